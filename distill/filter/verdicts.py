"""A verifier's verdicts, shared by the math verifiers (verify) and the code verifier (code).

    python -c "from distill.filter.verdicts import CORRECT, WRONG; print(CORRECT, WRONG)"

correct | wrong | no_answer (nothing extractable) | unverifiable (the gold itself does not
parse, or the check could not run). Never "correct" by default.
"""

CORRECT, WRONG, NO_ANSWER, UNVERIFIABLE = "correct", "wrong", "no_answer", "unverifiable"
