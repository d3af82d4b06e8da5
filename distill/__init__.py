"""distill: teacher traces -> filter -> student SFT -> eval -> publish.

distill generate --data builtin:arithmetic --teacher hf --model builtin:smollm2 --out t.jsonl
"""

__version__ = "0.1.0"
