"""Verifiers: is a trace's final answer right? Only the answer after the reasoning is judged,
so a `\\boxed{}` the model tried inside its chain of thought never counts.

    python -c "from distill.filter.verify import verify_math; print(verify_math('So \\\\boxed{1/2}.', '0.5'))"

Verdicts: correct | wrong | no_answer (nothing extractable) | unverifiable (the gold itself
does not parse, or the check could not run). Never "correct" by default. The code verifier
is distill.filter.code; `judge` below is the one entry point for both.
"""

from __future__ import annotations

import ast
import re
import unicodedata
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from math import factorial, pi
from typing import Any, NamedTuple

from distill.choices import MAX_OPTIONS, options_asked

# Re-exported, not used here: code that imported them from verify before code.py still works.
from distill.filter.code import CodeTests as CodeTests
from distill.filter.code import code_tests, verify_code
from distill.filter.code import extract_code as extract_code
from distill.filter.verdicts import CORRECT, NO_ANSWER, UNVERIFIABLE, WRONG

# ----------------------------------------------------------------------------- extraction


def _partners(text: str) -> dict[int, int]:
    """{index of a "{": index just past the "}" that closes it}, in one pass (counting from each
    box to its close was quadratic: a looping reply of 16,000 unclosed boxes took minutes)."""
    partners, open_at = {}, []
    for i, ch in enumerate(text):
        if ch == "{":
            open_at.append(i)
        elif ch == "}" and open_at:
            partners[open_at.pop()] = i + 1
    return partners


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}), nested braces included."""
    boxes = _boxes(text)
    return boxes[-1][2] if boxes else None


def _boxes(text: str) -> list[tuple[int, int, str]]:
    """Every \\boxed{...} (or \\fbox{...}) as (start, end, content), nested braces included."""
    matches = list(re.finditer(r"\\(?:boxed|fbox)\s*\{", text))
    if not matches:
        return []
    partners = _partners(text)
    out = []
    for m in matches:
        end = partners.get(m.end() - 1)
        if end is not None:
            out.append((m.start(), end, text[m.end() : end - 1]))
    return out


# A comma after a stated answer that gives the reason for it, or sets another aside: "The answer
# is 12, since 13 fails.", "..., not 13" ("The answer is 2, 3 and 5" is a list, no answer 2).
_REASON_COMMA = (
    r"(?:,[ \t]+(?i:since|because|as|given|which|so|due|not|rather|instead)\b"
    r"|[，,]\s*(?:因为|由于|所以|因此|故|而不是|不是))"
)
# A comma after a stated number that goes on with the sentence ("The answer is 12, but 13 also
# works", "..., or 13", "..., and we are done") or with a list ("The answer is 2, 3 and 5", "2和3"):
# the number is stated (it was no statement at all, and math-verify's read of the whole reply
# took 12 from "12, or 13", no hedge).
_CLAUSE_COMMA = (
    r",[ \t]+(?=(?i:or|and|but|though|although|while|whereas|yet|however|hence|thus|therefore"
    r"|then|i\.e|e\.g|that\s+is|meaning|namely|respectively|along|together|as\s+well)\b"
    r"|[-+]?\d|\$)"
    r"|[、和与及](?=\s*(?:[-+]?\d|\$))"
)
# A comma after a stated number that says where or how it is reached: "The answer is 12, attained
# at k = 3.", "..., achieved when x = 1", "..., at x = 0" (no statement: math-verify's read of the
# whole reply took the 3, wrong against 12).
_WHERE_COMMA = (
    r",[ \t]+(?i:attained|achieved|obtained|reached|realized|realised|occurring|which\s+occurs"
    r"|when|where|at|with|using)\b"
)
# An inequality on one variable, written bare: "The answer is x > 2 or x < -1" states the
# condition (read as a number, it was no statement, and math-verify's read of the reply took -1).
# "x \neq 2" too: all reals but 2, the union (-\infty,2)\cup(2,\infty) (math-verify judged
# the two unequal).
_INEQ = r"(?:<=?|>=?|≤|≥|≠|!=|\\(?:leq?|geq?|lt|gt|neq?)(?![A-Za-z]))"
_BARE_NUMBER = r"[-+]?\d+(?:\.\d+)?(?:/\d+)?"
_BARE_CONDITION = (
    rf"(?:{_BARE_NUMBER}[ \t]*{_INEQ}[ \t]*)?(?<![A-Za-z\\])[a-z][ \t]*{_INEQ}[ \t]*{_BARE_NUMBER}"
)
# "The final answer is $10,455$", "Final Answer: 12", "the answer is \(x+1\)", "答案是12。": a
# statement of the answer, in math delimiters or as a bare number (an amount too: markdown's
# escaped "\\$18" was no answer). Only one that comes after the last box is
# used (a model that boxes an intermediate value, then states its result, means the statement).
_STATED_VALUE = (
    r"(?:\$\$(?P<dd>(?:\\\$|[^$])+)\$\$|\$(?P<d>(?:\\\$|[^$])+)\$|\\\((?P<p>.+?)\\\)|\\\[(?P<b>.+?)\\\]"
    r"|(?P<r>" + _BARE_CONDITION + r")(?=\.?(?:\s|$)|[,;:)。！；，])"
    # "x = 2": the value a name is given ("The solutions are x = 2 and x = 3"), never an operand
    # ("x = 2 + 3"); nor is a number that a product, root or fraction goes on with ("2 \\pi",
    # "x = 2 \\cdot 3 = 6", "2 \\sqrt{3}", "2 1/2": read as 2, right against a gold 2); "25%" is
    # a number, its scale read after it (as "25 percent": "0.5, or 25%" was 0.5 alone)
    r"|(?:(?P<nm>[A-Za-z])(?:_\{?\w+\}?)?[ \t]*=[ \t]*)?"
    r"(?:\\?\$\s*)?(?P<n>[-+]?\d+(?:,\d{3})*(?:\.\d+)?)(?(nm)(?![ \t]*[-+*/^=×·(])"
    # nor, unnamed, a number an operation goes on with ("61 + 48", "2 + \\sqrt{3}", "15 - 3 =
    # 12": read as the 61, 2, 15 they start with)
    r"|(?![ \t]*[-+*/^][ \t]*(?:[\d\\({.]|[A-Za-z](?![A-Za-z]))))"
    r"(?![ \t]*(?:\\(?:cdot|times|div|d?frac|tfrac|sqrt|pi)(?![A-Za-z])|[×·÷π√]|\d+/\d))"
    # "2k": 2000, restated as such ("2k, or 2000"; "x = 2k" is a product, and so is the "3k"
    # an operation goes on with: "3k + 1" was read as 3k, right against a gold 3k); "答案是12
    # （十二）", a remark in full-width brackets after the number (read as the product 12*十二)
    r"(?=\.?(?:\s|$)|;(?:\s|$)|[。！；，（]|或|\\?%"
    r"|(?(nm)(?!)|k(?![A-Za-z0-9])(?![ \t]*[-+*/^=(]))|"
    + _REASON_COMMA
    + r"|"
    + _CLAUSE_COMMA
    + r"|"
    + _WHERE_COMMA
    # "x = 2, x = 3": named values listed
    + r"|(?(nm),[ \t]*[A-Za-z](?:_\{?\w+\}?)?[ \t]*=|(?!))))"
)
# "(a) 12 and (b) 13": a part's value, the part's label before it (it was no statement at all)
_PART = r"(?:\((?P<lb>[a-h]|i{1,3}|iv)\)[ \t]*)?"
_STATED_VALUE = _PART + _STATED_VALUE
# "The answers are 2 and 3", "The solutions are x = 2 and x = 3", "The roots are 2 and 3": a
# statement of several values, as "The answer is 2 and 3" (they were no statement at all:
# math-verify's read of the reply took 3). Roots or solutions named on the way to another answer
# ("The roots are 2 and 3, so their sum is 5") state nothing: `_final_answer` reads them only
# where no other value follows. "The only solution is x = 2 since (x-2)^2 = 0": one solution
# stated, then justified (math-verify's read of the reply took the 0); where the reply goes on to
# another value ("The solution is x = 2, so y = 5") it states nothing (`_moves_on`).
_SOLUTION_IS = (
    r"(?P<sol>(?i:the\s+(?:(?:only|unique|real|exact|positive|sole|single|one)\s+){0,2}"
    r"(?:solution|root)\s+(?:is|must\s+be)\s*(?::\s*)?))"
)
_STATED = re.compile(
    r"(?:(?i:final\s+answer|the\s+answer)\s*(?:(?:is|:)\s*)?(?:is\s*)?(?::\s*)?"
    r"|(?i:the\s+(?:final\s+)?answers\s*(?:are|:)\s*(?::\s*)?)"
    r"|(?P<roots>(?i:the\s+(?:(?:real|only|possible|two)\s+)?(?:solutions|roots)\s*(?:are|:)\s*"
    r"(?::\s*)?))|" + _SOLUTION_IS + r"|答案\s*(?:[是为為]\s*)?(?:[：:]\s*)?)" + _STATED_VALUE,
    re.DOTALL,
)
# A statement's lead, as `_STATED` reads it (roots aside), and a bare expression after it, to the
# end of its clause: "The answer is 2 \pi.", "Final answer: 2π" (no value `_STATED` reads: the
# reply was left to math-verify, which took the 2, right against a gold 2).
_LEAD = re.compile(
    r"(?:(?i:the\s+(?:final\s+)?answers\s*(?:are|:)\s*(?::\s*)?)"
    r"|(?i:final\s+answer|the\s+answer)\s*(?:(?:is|:)\s*)?(?:is\s*)?(?::\s*)?"
    r"|" + _SOLUTION_IS + r"|答案\s*(?:[是为為]\s*)?(?:[：:]\s*)?)"
)
# Where the expression ends: the line, a clause or the sentence does, outside brackets ("The
# answer is (2, 3)." was read as "(2"); a comma before "or" goes on ("2\pi, or 4\pi"); LaTeX's
# spacing "\," and "\;" is no comma ("3\sqrt{2}\,\text{m/s}" was read as "3\sqrt{2}\").
_EXPRESSION_END = re.compile(
    r"[\n$。；！？]|(?<!\\);|(?<!\\)[,，](?!\s*(?:(?i:or)\s|或))|[.!?](?=\s|\Z)"
)
# A reason or another clause after it, no comma before it: "The answer is 2\sqrt{3} since
# (2\sqrt{3})^2 = 12." (the whole clause was read as prose, no statement: math-verify took the
# 12), "..., so", "... but"; never "as well as" (a list).
_EXPRESSION_CLAUSE = re.compile(
    r"[ \t]+(?i:since|because|as(?![ \t]+well)|given|due[ \t]+to|so|thus|hence|therefore|which"
    r"|but|while|whereas|though|although)(?![A-Za-z])|[ \t]*(?:因为|由于|所以|因此)"
)
# Alternatives in the expression: "1/2 or 0.5" (one value), "2\pi, or 4\pi" (a hedge).
_EXPRESSION_OR = re.compile(
    r"\s*[,，]?\s*(?:(?<![A-Za-z])(?i:or)(?![A-Za-z])"
    r"(?:\s+(?i:maybe|possibly|perhaps|probably|rather|even)(?![A-Za-z]))?|或(?:者|是)?)\s*"
)
# A remark in brackets after it: "2\sqrt{3} (approximately 3.46)", "12（十二）".
_REMARK = re.compile(r"\s*[(（]([^()（）]*)[)）]\s*\Z")
_CJK = re.compile(r"[\u3400-\u9fff]")
# A unit after it: "2\sqrt{3} cm", "4\pi square units", "3\sqrt{2} m/s" (read as prose, no answer).
# Known units of two letters or more only: any word would read "2\pi rh" as 2\pi, "2\sqrt{3}
# squared" as 2\sqrt{3}; a one-letter unit ("m", "s", "g") is a variable as often, but not in a
# rate of two units ("m/s", "rad/s", "g/cm^3", "meters per second": "x/s" is no unit).
_UNIT_WORDS = (
    "mm|cm|km|ft|yd|mi|kg|mg|lb|lbs|oz|ml|sec|secs|min|mins|hr|hrs|hour|hours|minute|minutes"
    "|second|seconds|day|days|week|weeks|month|months|year|years|unit|units|degree|degrees"
    "|radian|radians|rad|meter|meters|metre|metres|centimeter|centimeters|centimetre|centimetres"
    "|millimeter|millimeters|kilometer|kilometers|inch|inches|foot|feet|yard|yards|mile|miles"
    "|gram|grams|kilogram|kilograms|pound|pounds|ounce|ounces|liter|liters|litre|litres"
    "|dollar|dollars|cent|cents|mph|kph"
)
_POWER_OF_UNIT = r"(?:\^\{?[23]\}?|[²³])?"
_A_UNIT = r"(?i:" + _UNIT_WORDS + r")(?![A-Za-z])" + _POWER_OF_UNIT
_A_UNIT_OR_LETTER = r"(?:(?i:" + _UNIT_WORDS + r")|[msghL])(?![A-Za-z])" + _POWER_OF_UNIT
_RATE = r"[ \t]*(?:/|[ \t](?i:per)[ \t]+)[ \t]*"
# Two letters make a rate only as "m/s": "4\pi^2 L/g", "2 h/g" are variables divided (read as
# 4\pi^2 and 2, right against an answer of 4\pi^2 or 2), as "g/L" and "h/s" may be.
_M, _S = r"m(?![A-Za-z])" + _POWER_OF_UNIT, r"s(?![A-Za-z])" + _POWER_OF_UNIT


def _units_over(sep: str) -> str:
    """Two units, one over the other (`sep` between them): one of them a word, or m over s."""
    pairs = ((_A_UNIT, _A_UNIT_OR_LETTER), (_A_UNIT_OR_LETTER, _A_UNIT), (_M, _S))
    return "(?:" + "|".join(top + sep + under for top, under in pairs) + ")"


_RATE_OF_UNITS = _units_over(_RATE)
# "4 g/L", grams per litre, spaced as units are (it was no unit: "\boxed{4 g/L}" wrong against
# 4); "4g/L" written close stays the product 4g over L, as the pendulum's g/L is.
_G_PER_L = r"g(?![A-Za-z])" + _RATE + r"L(?![A-Za-z])"
_UNIT_BODY = (
    r"(?:(?i:square|cubic|sq\.?)[ \t]+)?(?:"
    + _RATE_OF_UNITS
    + r"|"
    + _G_PER_L
    + r"|"
    + _A_UNIT
    + r")"
)
# LaTeX's spacing before a unit ("3\sqrt{2}~m/s", "4\,cm") and a unit set upright
# ("3\sqrt{2}~\mathrm{m/s}", "\text{ cm}^2": math-verify read 3*sqrt(2)*m/s, wrong against
# 3\sqrt{2}, and right against 3); a rate written close after a number ("\boxed{4m/s}",
# "3\sqrt{2}m/s", "4km/h": read as 4*m/s, wrong against 4), as a gold's is read.
_LATEX_SPACE = r"(?:[ \t~]|\\[,;:! ]|\\q?quad(?![A-Za-z]))"
_UNIT_AFTER = re.compile(
    r"(?:" + _LATEX_SPACE + r"+" + _UNIT_BODY + r"(?![A-Za-z/])"
    r"|"
    + _LATEX_SPACE
    + r"*\\(?:mathrm|text|textrm|rm|mbox|operatorname)[ \t]*\{[ \t]*"
    + _UNIT_BODY
    + r"[ \t]*\}"
    + _POWER_OF_UNIT
    + r"|(?<=[\d}])"
    + _RATE_OF_UNITS
    + r"(?![A-Za-z/])"
    r")[ \t]*\Z"
)
# A gold's unit, as its authors also write it (`_unit_dropped` of a gold): a rate with no space
# before it ("4m/s", "3\sqrt{2}m/s^2", "4km/h"), as a fraction ("4 \frac{m}{s}") or as a product
# ("4 m s^{-1}", "4 ms^{-1}"). Only `_UNIT_AFTER`'s were dropped: the answer "\boxed{4 m/s}",
# read as 4, was wrong against "4m/s" (right before units were dropped).
_UNIT_FRACTION = r"\\[dt]?frac\{" + _units_over(r"\}\{") + r"\}"
_PER_UNIT = (
    r"(?:m|(?i:" + _UNIT_WORDS + r"))[ \t]*(?:\\cdot(?![A-Za-z])|\\[,;: ])?[ \t]*"
    r"(?:s|(?i:" + _UNIT_WORDS + r"))\^\{?-[123]\}?"
)
_GOLD_UNIT_AFTER = re.compile(
    r"(?:(?:[ \t]+|(?<=[\d}]))(?:" + _RATE_OF_UNITS + "|" + _UNIT_FRACTION + r")"
    r"|[ \t]+" + _PER_UNIT + r")(?![A-Za-z/])[ \t]*\Z"
)
# The value an answer stated by name is derived to, last in its sentence: "The answer is a = 3,
# b = 4, so a + b = 7." (its left side the names stated; "so a = 3" restates one).
_DERIVED = re.compile(
    r"[ \t]*[,;][ \t]*(?:(?i:and)[ \t]+)?(?i:so|thus|hence|therefore|giving)[ \t]+(?:\$[ \t]*)?"
    r"(?P<lhs>[A-Za-z][A-Za-z0-9+\-*/^(){}\\ \t]{0,60}?)[ \t]*=[ \t]*"
    r"(?P<v>[-+]?(?:\d+(?:\.\d+)?(?:/\d+)?|\\[dt]?frac\{[^{}]{1,20}\}\{[^{}]{1,20}\}"
    r"|\\sqrt\{[^{}]{1,20}\}))[ \t]*(?:\$[ \t]*)?(?=\Z|[.!?;,)。！？；，\n])"
)


def _restates(answer: str, lead: re.Match) -> bool:
    """Whether a statement's lead is the "is the answer" of a value stated before it (`_LEAD`
    reads "the answer" in "2\\sqrt{3} is the answer."), followed by no value of its own."""
    words = _IS_THE_ANSWER.search(answer, max(0, lead.start() - 60), lead.end() + 40)
    return (
        words is not None
        and words.start() < lead.start() < words.end()
        and _stated_expression(answer, lead) is None
    )


def _stated_expression(answer: str, lead: re.Match) -> tuple[list[str], int] | None:
    """([the bare expression, or each offered as an alternative to it], where they end) that a
    statement's `lead` is followed by, None where none is: prose ("The answer is the sum"), an
    equation or inequality (left to math-verify, as they were), a choice letter, a plain number.
    "1/2 or 0.5" is one value (it was a hedge of 2 and 0.5: wrong against 1/2)."""
    start = lead.end() + len(re.match(r"[\s*]*", answer[lead.end() : lead.end() + 20]).group(0))
    window = answer[start : start + 80]  # "**Final Answer**\n2\sqrt{3}": after the markup
    cut, depth = None, 0
    for i, ch in enumerate(window):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif (depth == 0 or ch in "\n$") and _EXPRESSION_END.match(window, i):
            cut = i
            break
        elif depth == 0 and ch in " \t因由所" and _EXPRESSION_CLAUSE.match(window, i):
            cut = i
            break
    # "The answer is 2\sqrt{3} is the answer.": the words that say it again end it (the whole
    # clause was read as prose, no statement: math-verify's read of the reply took the 2)
    restated = _IS_THE_ANSWER.search(window, 0, len(window) if cut is None else cut)
    if restated is not None:
        cut = restated.start()
    elif cut is None and start + len(window) < len(answer):
        return None  # no end in sight: no short expression
    written = window[:cut] if cut is not None else window
    values: list[str] = []
    end = 0
    pieces = list(_EXPRESSION_OR.finditer(written))
    bounds = [0, *(p for m in pieces for p in (m.start(), m.end())), len(written)]
    for at, (a, b) in enumerate(zip(bounds[::2], bounds[1::2])):
        e = _expression(written[a:b])
        # (a plain number is `_STATED`'s; one its unit is written close to, "4m/s",
        # "4~\\mathrm{m/s}", it does not read)
        if e is None or (at == 0 and _plain_number(written[a:b].strip().strip("*")) is not None):
            break  # what follows is read as any tail is ("2\pi or maybe 5": offered)
        values.append(e)
        end = b
    if not values:
        return None
    distinct: list[str] = []
    for v in values:
        if not any(_same_value(v, d) for d in distinct):
            distinct.append(v)
    if restated is not None and end == len(written):
        return distinct, start + restated.end()  # what follows the words is read as the tail
    return distinct, start + len(written[:end].rstrip())


# "x = 2 is the only solution", "Thus $2\sqrt{3}$ is the answer.": a value stated before the words
# that say it is the answer, then maybe justified ("x = 2 is the only solution since (x-2)^2 =
# 0": no statement read, math-verify's read of the whole reply took the 0). "is a solution"
# states nothing (one of several).
_IS_THE_ANSWER = re.compile(
    r"(?<![ \t*])[ \t*]+(?i:is|was|must[ \t]+be)[ \t]+"
    r"(?:(?i:indeed|therefore|thus|then|clearly)[ \t]+)?(?i:the|our|my)[ \t]+(?:(?i:only|unique|final|correct|exact|sole|single|one|real|positive"
    r"|desired|required|requested|minimum|maximum|smallest|largest|least|greatest)[ \t]+){0,3}"
    r"(?i:answer|solution|root|value|result)(?![A-Za-z])"
)
# Words that open the clause of such a statement: "So x = 2 is ...", "and hence 12 is ...".
_SUBJECT_OPENS = re.compile(
    r"(?:[ \t*]*(?i:so|thus|hence|therefore|then|clearly|finally|and|either|i\.e\.|that\s+is"
    r"|in\s+short"
    r"|this\s+means|which\s+means|it\s+follows\s+that|we\s+(?:see|get|find|conclude|have)\s+that"
    r"|(?:in\s+)?conclusion)(?![A-Za-z])[ \t,:]*)*"
)
# A sentence after it that says why ("Indeed, (2-2)^2 = 0.") or sets another value aside ("x =
# -2 is extraneous"): no other value. "As a result, ..." concludes.
_REASON_OPENS = re.compile(
    r"^\W*(?i:since|because|as(?![ \t]+(?:a[ \t]+result|such)(?![A-Za-z]))|due|which|indeed"
    r"|this\s+is\s+because)(?![A-Za-z])"
)
_SETS_ASIDE = re.compile(
    r"(?i:\b(?:extraneous|spurious|reject\w*|discard\w*|invalid|fails?|impossible"
    r"|not\s+(?:a\s+)?(?:valid|solution|allowed|possible)|does(?:\s+not|n't)\s+(?:work|satisfy)))\b"
)
# One that checks it ("Substituting, (2-2)^2 = 0."), where it names no other quantity's value
# (`_ANOTHER_QUANTITY`): "Substituting, y = 2x + 1 = 5.", "Plugging in, the area is 5.", "Given
# x = 2, the area is 5.", "Note the question asks for x + 3 = 5." go on to another value (they
# were read as checks: x = 2 judged the answer, right against 2, wrong against the 5 asked for).
_CHECK_OPENS = re.compile(r"^\W*(?i:given|check\w*|verif\w*|substitut\w*|plug\w*|note)(?![A-Za-z])")
_MATH_RUN = r"(?:[^,;:A-Za-z\\\n]|\\[A-Za-z]+|(?<![A-Za-z])[A-Za-z](?![A-Za-z]))*"
_ANOTHER_QUANTITY = re.compile(
    r"(?<![A-Za-z\\])[A-Za-z](?:_\{?\w+\}?)?[ \t]*=(?!=)(?P<named>" + _MATH_RUN + r")"
    r"|(?i:\bthe[ \t]+(?:(?!(?:left|right|hand|side|equation|expression|discriminant|lhs|rhs)\b)"
    r"[a-z]+[ \t]+){1,3}?(?:is|are|equals|becomes|would[ \t]+be|will[ \t]+be))(?![A-Za-z])"
    r"(?P<quantity>" + _MATH_RUN + r")"
    # what the question asks for ("the question asks for", "requires us to find"); never "as
    # required", "the requirement", "requires x > 0" (a check of a condition)
    r"|(?P<asked>(?i:(?<!\bas[ \t])\b(?:asks?|asked|wants?|wanted|request(?:s|ed)?"
    r"|requir(?:es|ed)(?=[ \t]+(?:us|you|finding|computing|to[ \t]+(?:find|compute|calculate"
    r"|determine))\b))\b))"
)
# A check that says it confirms ("Verification: the sum is 2 + 2 = 4, which matches.", "the
# product is 6, as required", "... ✓"): the other values it names are the check's own (read as
# another quantity, the value stated was no answer: math-verify took the 4, wrong against 2).
_CONFIRMS = re.compile(
    r"(?i:\b(?:match(?:es|ed|ing)?|confirm\w*|consistent|agrees?|checks?[ \t]+out"
    r"|satisf(?:y|ies|ied|ying)|holds|verified|(?:is|are|was)[ \t]+(?:indeed[ \t]+)?"
    r"(?:correct|true|valid|right)|(?:both[ \t]+)?sides[ \t]+(?:are[ \t]+)?equal"
    r"|as[ \t]+(?:required|expected|needed|desired|claimed|stated|predicted))\b)|✓|✔|\\checkmark"
)


# A check that substitutes into the equation solved and shows it holds, with no word saying so
# ("Substituting x = 2 into the equation: the result is 4 - 4 = 0.", "Plugging 2 back into the
# equation gives 0.", "..., we get 4 = 4."), or with one ("Checking: substituting x = 2 gives 4
# - 4 = 0, which checks out."): the numbers after it come to 0, or to themselves. (They were read
# as another quantity, the 0: the value stated was no answer, the reply judged on its 0, right
# against 0.) "into the expression, the result is 5", "gives y = 5", "gives the area 5, as
# expected" go on to another value, as before.
_INTO_EQUATION = re.compile(
    r"(?i:\b(?:into|in)\s+(?:the\s+|our\s+|this\s+)?(?:(?:original|given|initial|first|second)\s+)?"
    r"equations?\b|\bback\s+in(?:to)?\b(?=[^.;]*\bequations?\b))"
)
_ARITHMETIC = re.compile(
    r"(?:[\d \t.+\-*/^(){}\[\]×·]|\\(?:cdot|times|left|right|[dt]?frac)(?![A-Za-z]))+"
)


def _holds(run: str) -> bool:
    """Whether `run` ("4 - 4 = 0", "0", "4 = 4") is numbers only that come to 0, or to
    themselves."""
    parts = [p.strip(" \t.,;$") for p in run.strip().split("=")]
    if not all(p and _ARITHMETIC.fullmatch(p) for p in parts):
        return False
    last = _plain_number(parts[-1])
    if last == 0:
        return True
    return len(parts) > 1 and last is not None and all(_plain_number(p) == last for p in parts)


_CHECK_RUN_ENDS = re.compile(r"[,;]|\b(?i:which|as|so|and|thus|hence)\b|✓|✔|\\checkmark")


def _check_run(sentence: str) -> tuple[int, int] | None:
    """Where the numbers of a check (`_shows_it_holds`) that come to 0 or to themselves are in
    `sentence`, else None."""
    if not _CHECK_OPENS.match(sentence):
        return None
    if any(m.group("asked") for m in _ANOTHER_QUANTITY.finditer(sentence)):
        return None
    into = _INTO_EQUATION.search(sentence)
    if into is None and not _CONFIRMS.search(sentence):
        return None
    after = into or _CONCLUDES.search(sentence)
    if after is None:
        return None
    first = re.compile(r"[-+]?[\d(]").search(sentence, after.end())
    if first is None:
        return None
    run = _CHECK_RUN_ENDS.split(sentence[first.start() :], maxsplit=1)[0]
    return (first.start(), first.start() + len(run)) if _holds(run) else None


def _shows_it_holds(sentence: str) -> bool:
    """Whether a sentence is a check of a value (`_CHECK_OPENS`) into the equation
    (`_INTO_EQUATION`) or saying it confirms (`_CONFIRMS`), whose numbers after the equation or
    its "gives", "we get" come to 0 or to themselves (`_holds`), asking for nothing else ("Note
    the question asks for x + 3 = 5.")."""
    return _check_run(sentence) is not None


def _justifies(sentence: str, values: list[str]) -> bool:
    """Whether a sentence after a value stated (`values`) gives its reason, checks it or sets
    another value aside, going on to no value of another quantity."""
    if _SETS_ASIDE.search(sentence) or _REASON_OPENS.match(sentence):
        return True
    if not _CHECK_OPENS.match(sentence):
        return False
    if _shows_it_holds(sentence):
        return True
    keys = {_value_key(v) for v in values}
    confirms = _CONFIRMS.search(sentence) is not None
    for m in _ANOTHER_QUANTITY.finditer(sentence):
        if m.group("asked"):
            return False  # "Note the question asks for x^2 = 4."
        if confirms:
            continue  # "Checking: the sum is 2 + 2 = 4, which matches."
        run = m.group("named") if m.group("named") is not None else m.group("quantity")
        value = run.rsplit("=", 1)[-1].strip(" \t.$")  # "y = 2x + 1 = 5": its 5
        if _VALUED.search(value) and not _written_before(value, values, keys):
            return False
    return True


# The problem or equation the statement answers: "x = 2 is the only solution to the equation".
_OF_THE_PROBLEM = re.compile(
    r"[ \t]+(?i:to|of|for)[ \t]+(?i:the|this|our)[ \t]+(?:(?i:given|original)[ \t]+)?"
    r"(?i:problem|question|equation|system|inequality)(?![A-Za-z])"
)


def _subject_start(answer: str, at: int) -> int:
    """Where the clause that ends at `at` starts: after the last stop (a sentence's end, a comma
    or colon) outside brackets and inline math, looked for in the 120 characters before it."""
    depth, math = 0, False
    for i in range(at - 1, max(-1, at - 121), -1):
        ch = answer[i]
        escaped = i > 0 and answer[i - 1] == "\\"
        if ch == "$" and not escaped:
            math = not math
        elif math:
            continue
        elif ch in ")]}":
            depth += 1
        elif ch in "([{":
            depth = max(0, depth - 1)
        elif depth == 0 and not escaped and ch in "\n;:!?,.，。；：！？":
            digits = re.match(r"\d[.,]\d", answer[i - 1 : i + 2]) if i > 0 else None
            if digits is None:  # "2.5", "1,000" go on
                return i + 1
    return max(0, at - 120)


def _subject_value(text: str) -> str | None:
    """The value a statement's subject is ("x = 2", "$2\\sqrt{3}$", "12 m/s"), else None."""
    t = text.strip().strip("*").strip()
    unit = _UNIT_AFTER.search(t)
    if unit is not None and unit.start() > 0 and not _prose(t[: unit.start()]):
        t = t[: unit.start()].strip()  # "$3\sqrt{2}$ m/s"
    inline = re.fullmatch(r"\$([^$]+)\$|\\\((.+?)\\\)", t)
    if inline is not None:
        t = (inline.group(1) or inline.group(2)).strip()
    t = re.sub(r"^\\?\$[ \t]*(?=\d)", "", t)  # an amount, "$18"
    t = re.sub(r"^[A-Za-z](?:_\{?\w+\}?)?[ \t]*=(?!=)[ \t]*", "", t)  # "x = 2": its value
    if _plain_number(t) is not None:
        return _ungrouped(t)
    return _expression(t)


def _postfix_statement(answer: str, after: int) -> tuple[str, int, list[str]] | None:
    """(the value, where its statement starts, the values offered beside it: a hedge) of the
    last "X is the answer" from `after` on (`_IS_THE_ANSWER`), where X is a value and no other
    follows but in its reasons ("since (x-2)^2 = 0") or offered as well ("x = 2 is the answer,
    but x = 3 also works": a hedge). None where there is none, or the reply goes on to another
    value ("x = 2 is the solution of the first, so y = 5")."""
    found = None
    for m in _IS_THE_ANSWER.finditer(answer, after):
        found = m
    if found is None:
        return None
    start = max(after, _subject_start(answer, found.start()))  # never inside the last box
    opens = _SUBJECT_OPENS.match(answer, start, found.start())
    subject = answer[opens.end() : found.start()]
    # "2 or 3 is the answer", "Either $2$ or $3$ is the answer": values offered as alternatives
    cuts = [p for m in _EXPRESSION_OR.finditer(subject) for p in (m.start(), m.end())]
    bounds = [0, *cuts, len(subject)]
    values = [_subject_value(subject[a:b]) for a, b in zip(bounds[::2], bounds[1::2])]
    if not values or None in values:
        return None
    end = found.end()
    of = _OF_THE_PROBLEM.match(answer, end)
    end = of.end() if of is not None else end
    distinct: list[str] = []
    for v in values:
        if not _written_before(v, distinct, {_value_key(d) for d in distinct}):
            distinct.append(v)
    if _moves_on(answer[end:], distinct):
        return None
    return distinct[0], opens.end(), [*distinct[1:], *_offered_after(answer[end:], distinct)]


# A reason that goes on to another value: "since (x-2)^2 = 0, so y = 5".
_CONCLUDES = re.compile(r"(?i:\b(?:so|thus|hence|therefore|then|giv(?:es|ing)|yields?|we\s+get))\b")


def _offered_after(tail: str, values: list[str], head: str = "") -> list[str]:
    """`_offered_values` of what follows a value stated (`head`: what comes before it, where
    known), and the values a clause of its own after the reason given for it offers ("x = 2,
    since (x-2)^2 = 0, or x = 3": a hedge; "since a = 0 or b = 0" is the reason's own)."""
    offered = _offered_values(tail, values, head=head)
    first = next((s for _, s in _sentences_of(tail) if s.strip()), "")
    if _REASON.search(first):
        for m in _COMMA_OR_VALUE.finditer(first):
            value = _offered_value(m)
            keys = {_value_key(v) for v in [*values, *offered]}
            if not _RELATION.search(value) and not _written_before(
                value, [*values, *offered], keys
            ):
                offered.append(value)
    return offered


def _moves_on(tail: str, values: list[str]) -> bool:
    """Whether the reply goes on from a value stated to another after it (`tail`: what follows
    the statement): a sentence with a value that is no reason, check or value set aside
    (`_justifies`), or a reason that concludes another ("since y = 1, so z = 2"). A hedge does
    not: it is read as one."""
    if _offered_after(tail, values):
        return False
    for _, sentence in _sentences_of(tail):
        if not _VALUED.search(sentence):
            continue
        # (the first conclusion word only: a value after any is after it)
        concludes = _CONCLUDES.search(sentence)
        if not _justifies(sentence, values) or (
            concludes is not None
            and _VALUED.search(sentence, concludes.end())
            and not _shows_it_holds(sentence)  # "... into the equation gives 4 - 4 = 0."
        ):
            return True
    return False


# A value, then the reason for it, opening a sentence: "So x = 2, since (x-2)^2 = 0."; or a
# remark on where it is reached after a comma: "the minimum is 8, which is not attained at x=0",
# "The minimum is 12, attained at k = 3." (math-verify's read of the whole reply took the 0, 3).
_THEN_REASON = re.compile(
    r"(?P<v>[^\n]{1,80}?)(?:,?(?=[ \t]+(?i:since|because|as(?![ \t]+well)|given|due[ \t]+to)"
    r"(?![A-Za-z]))|(?=,[ \t]+(?P<remark>(?i:which|attained|achieved|obtained|reached|occurring))"
    r"(?![A-Za-z])))"
)
# A "which" remark that says the value is another, or comes to one: "The total time is 120
# minutes, which is 2 hours.", "the total is 24, which means each of the 4 friends pays 6", "...,
# which makes the product 6", "..., which reduces to 10 per half" (the first value was read: a
# right answer of 2, 6, 10 was wrong; the last value is read, as before). "which is 5 more than
# last year", "which is divisible by 5", "which is not attained at x = 0" remark on it.
_REMARK_GOES_ON = re.compile(
    r"[ \t]*,[ \t]*(?i:which)[ \t]+(?:"
    r"(?i:is|are|was|were|equals?|would[ \t]+be|will[ \t]+be)[ \t]+"
    r"(?:(?i:about|approximately|roughly|around|nearly|exactly|just|equal[ \t]+to|equivalent[ \t]+to"
    r"|the[ \t]+same[ \t]+as)[ \t]+)*(?:[-+]?\d|\$|\\[A-Za-z(\[])"
    r"(?![^,;]*?(?i:\b(?:more|less|fewer|greater|smaller|larger|higher|lower|times|than|percent)\b|%))"
    r"|(?i:means|implies|makes|gives|leaves|brings|reduces|simplifies|becomes|converts"
    r"|translates|amounts|comes|corresponds|works[ \t]+out|results)\b(?![ \t]+(?i:from)\b)"
    r"[^.;]*?(?:\d|\$|\\[A-Za-z(\[])"
    r")"
)
# The words that name a value as what its subject is: "So it must be 4", "the minimum is 8". Where
# the subject is denied, supposed or hedged ("It cannot be 9", "If it is 9", "it could be 9"), or
# is on a condition ("the remainder is 1 when n is 3"), no value is read.
_COPULA = re.compile(r"(?<![A-Za-z])(?i:is|are|was|were|be|equals)(?![A-Za-z])[ \t]*")
_NOT_ASSERTED = re.compile(
    r"(?i:\b(?:not|never|no|cannot|could|might|may|would|perhaps|maybe|possibly)\b|n't\b)"
)


def _copula_value(text: str) -> str | None:
    """The value after the first copula of `text` ("it must be 4": 4, "the minimum is 8": 8),
    where that is the whole rest and nothing before it denies, supposes or hedges it; else
    None."""
    cop = _COPULA.search(text)
    if cop is None or _NOT_ASSERTED.search(text) or _SUPPOSE.search(text):
        return None
    if not _prose(text[: cop.start()]):
        return None  # (a value or an equation before it, read as `_subject_value` reads them)
    return _subject_value(text[cop.end() :])


def _justified_value(answer: str) -> tuple[str, list[str]] | None:
    """(the value, those offered beside it) of a reply with no box or statement whose last
    sentence opens with a value and then says why ("So x = 2, since (x-2)^2 = 0."; math-verify's
    read of the whole reply took the 0), the sentences after it reasons or checks at most; None
    for any other."""
    tail = answer[-2000:]
    sentences = [(at, s) for at, s in _sentences_of(tail) if s.strip()]
    found = None
    for at, sentence in reversed(sentences[-4:]):
        opens = _SUBJECT_OPENS.match(sentence)
        m = _THEN_REASON.match(sentence[: opens.end() + 120], opens.end())
        if m is not None:
            found = (m, at)
            break
        if (
            _VALUED.search(sentence)
            and not _REASON_OPENS.match(sentence)
            and not (_SETS_ASIDE.search(sentence) or _CHECK_OPENS.match(sentence))
        ):
            return None
    if found is None:
        return None
    m, at = found
    value = _subject_value(m.group("v"))
    if value is None:
        value = _copula_value(m.group("v"))  # "So it must be 4, since 4^2 + 4 = 20.": 4
    if value is None:
        return None
    rest = tail[at + m.end() :]  # from the reason on
    checked = rest
    if m.group("remark"):
        # the remark's own clause is where or how the value is reached: its numbers are no other
        # value, unless it sets the value aside ("x = 3, which is extraneous", "..., which is not
        # a solution") or concludes another ("x = 2, which gives y = 5")
        clause = next((s for _, s in _sentences_of(rest) if s.strip()), "")
        concludes = _CONCLUDES.search(clause)
        if (
            _SETS_ASIDE.search(clause)
            or _NOT_THE_ANSWER.search(clause)
            or _CONTRADICTS.search(clause)
            or (concludes is not None and _VALUED.search(clause, concludes.end()))
            or (_REMARK_GOES_ON.match(clause) and not _remark_restates(sentence, clause, value))
        ):
            return None
        checked = rest[rest.find(clause) + len(clause) :]
    if _moves_on(checked, [value]):
        return None
    return value, _offered_after(rest, [value])


def _unit_dropped(text: str, gold: bool = False) -> str:
    """A value written with its unit ("3\\sqrt{2} m/s", "$12$ cm", "\\boxed{4\\pi cm^2}") as the
    value alone, as an answer's is read (a gold "3\\sqrt{2} m/s" was 3*sqrt(2)*m/s to math-verify,
    which the answer's 3\\sqrt{2} is not); any other text as it is. A `gold`'s unit also as
    `_GOLD_UNIT_AFTER` reads it."""
    inner = last_boxed(text)
    inner = (inner if inner is not None else text).strip()
    if len(inner) > 80:
        return text
    unit = _UNIT_AFTER.search(inner) or (_GOLD_UNIT_AFTER.search(inner) if gold else None)
    if unit is None or unit.start() == 0 or _prose(inner[: unit.start()]):
        return text
    value = _subject_value(inner[: unit.start()])
    return value if value is not None else text


def _with_unit(answer: str) -> str | None:
    """The value of a reply that is a value and its unit alone ("3\\sqrt{2} m/s", "12 m/s"), else
    None."""
    whole = answer.strip().rstrip(".").strip()
    if len(whole) > 80 or "\n" in whole:
        return None
    inline = re.fullmatch(r"\$([^$]+)\$|\\\((.+?)\\\)", whole)
    if inline is not None:  # "$3\sqrt{2}~\mathrm{m/s}$"
        whole = (inline.group(1) or inline.group(2)).strip()
    unit = _UNIT_AFTER.search(whole)
    if unit is None or unit.start() == 0 or _prose(whole[: unit.start()]):
        return None
    return _subject_value(whole[: unit.start()])


# What a value ends a clause after: "The speed is 3\sqrt{2} m/s.", "So v = 3\sqrt{2} m/s.", "a
# speed of 12 m/s".
_BEFORE_VALUE = re.compile(
    r"(?<![A-Za-z\\])(?i:is|are|was|were|equals|be|of)(?![A-Za-z])|(?<![<>!=])=(?!=)|:|≈"
)
_INLINE_AT_END = re.compile(r"(?<!\\)\$([^$]{1,200})\$[ \t]*\Z|\\\((.{1,200}?)\\\)[ \t]*\Z")


def _last_with_unit(answer: str) -> str | None:
    """The value the last sentence of a reply ends with, a unit after it ("The speed is
    3\\sqrt{2} m/s.", "So $v = 3\\sqrt{2}~\\mathrm{m/s}$."; math-verify's read of the reply was
    3*sqrt(2)*m/s, wrong against 3\\sqrt{2} and right against 3), else None. A sentence that
    supposes (if, suppose, assume) states nothing."""
    tail = _ABBREV.sub(lambda m: " " * len(m.group(0)), answer[-2000:])
    sentences = [s for _, s in _sentences_of(tail) if s.strip()]
    if not sentences:
        return None
    last = sentences[-1].strip()
    if len(last) > 300 or _SUPPOSE.search(last):
        return None
    inline = _INLINE_AT_END.search(last)
    if inline is not None:  # the unit inside the maths that ends it
        last = last[: inline.start()] + " " + (inline.group(1) or inline.group(2)).strip()
    unit = _UNIT_AFTER.search(last)
    if unit is None or unit.start() == 0:
        return None
    before = last[: unit.start()]
    cuts = list(_BEFORE_VALUE.finditer(before))
    if cuts:
        before = before[cuts[-1].end() :]
    else:
        before = before[_SUBJECT_OPENS.match(before).end() :]
    if not before.strip() or _prose(before):
        return None
    return _subject_value(before)


def _last_bare_latex(answer: str) -> str | None:
    """The LaTeX expression written bare, out of math delimiters, that the last sentence of a
    reply ends with after "is", "=" or ":" ("The speed is 3\\sqrt{2}.", "So the ratio is
    \\frac{3}{4}."; math-verify, reading only delimited LaTeX, took the 3), else None. A sentence
    that supposes, one in math delimiters, and a plain number (math-verify's read of it is the
    number) are left as they were."""
    tail = _ABBREV.sub(lambda m: " " * len(m.group(0)), answer[-2000:])
    sentences = [s for _, s in _sentences_of(tail) if s.strip()]
    if not sentences:
        return None
    last = sentences[-1].strip()
    if len(last) > 300 or _SUPPOSE.search(last) or re.search(r"(?<!\\)\$|\\[(\[]", last):
        return None
    cuts = list(_BEFORE_VALUE.finditer(last))
    if not cuts:
        return None
    if _DENIED_BEFORE.search(re.split(r"[,;:]", last[: cuts[-1].start()])[-1]):
        return None  # "We cannot have x = \\sqrt{2}.", "The ratio cannot be \\frac{3}{4}."
    written = last[cuts[-1].end() :].strip().rstrip("*").strip()
    if not re.search(r"\\[A-Za-z]", written) or _prose(written):
        return None
    return _expression(written)


# A clause that denies the value it ends with ("We cannot have x = ...", "The ratio cannot be
# ..."): the negation right before the value, a verb and the unknown at most between them. One
# earlier in the clause is on something else ("The area not covered by the circle is 4 - \\pi.",
# "Since x is not negative we get x = \\sqrt{2}."; e051ee9 read no answer there).
_DENIED_BEFORE = re.compile(
    r"(?i:\b(?:not|never|cannot|no)\b|n't\b)"
    r"(?:[ \t]+(?i:be|have|get|equal|take|obtain|give|yield|possibly|ever|always|simply|just))*"
    r"(?:[ \t]+[A-Za-z](?:_\{?\w{1,3}\}?)?)?[ \t]*\Z"
)


def _expression(written: str) -> str | None:
    """The value a short expression written bare is ("2\\sqrt{3}", "2\\sqrt{3} cm", "12 (twelve)",
    "2π"), None where it is none: prose, an equation or inequality, nothing mathematical."""
    e = written.strip().strip("*").strip()
    remark = _REMARK.search(e)
    if remark and _prose(remark.group(1)) and remark.start() > 0:
        e = e[: remark.start()].strip().strip("*").strip()  # "12 (twelve)", "**12** (twelve)"
    unit = _UNIT_AFTER.search(e)
    if unit is not None and unit.start() > 0 and not _prose(e[: unit.start()]):
        e = e[: unit.start()].strip()  # "2\sqrt{3} cm", as "12 cm" is 12; "3\sqrt{2} m/s"
    if (
        not e
        or len(e) > 60
        or not re.search(r"\d|\\[A-Za-z]|[π√∞]", e)
        or re.search(r"=|" + _INEQ, e)
        or _prose(e)
    ):
        return None
    return e.replace("π", "\\pi ").strip()


def _prose(text: str) -> bool:
    """Whether `text` has a word of prose in it (LaTeX commands and their arguments aside)."""
    bare = re.sub(r"\\[A-Za-z]+|\{[^{}]*\}", " ", text)
    return _PROSE_WORD.search(bare) is not None or _CJK.search(bare) is not None


def _derived(answer: str, st: _Statement) -> tuple[str, int] | None:
    """(the value, where it ends) that a statement of named values is derived to after it ("a =
    3, b = 4, so a + b = 7."), None where it is not. One name's value is the answer stated
    ("The answer is x = 3, so x^2 = 9." answers x: it was judged 9, wrong against 3)."""
    if len(st.values) < 2:
        return None
    names = set()
    for name, value in zip(st.names, st.values):  # "x = 3", or "$x = 3$"
        written = re.match(r"\s*([A-Za-z])(?:_\{?\w+\}?)?\s*=(?!=)", value)
        name = name or (written.group(1) if written else None)
        if name is None or _labelled(name):
            return None
        names.add(name)
    m = _DERIVED.match(answer, st.end)
    if m is None:
        return None
    letters = set(re.findall(r"(?<![A-Za-z\\])[A-Za-z](?![A-Za-z])", m.group("lhs")))
    if len(letters) < 2 or not letters <= names:
        return None
    return m.group("v"), m.end()


# "The answer is 2 or 3", "$2$, or maybe $3$", "答案是2或3": another value offered after the
# stated one.
_STATED_OR = re.compile(
    r"(?:,?\s*or\s+(?:(?i:maybe|possibly|perhaps)\s+)?|[，,]?\s*(?:或者?|或是|也可能是)\s*)"
    + _STATED_VALUE,
    re.DOTALL,
)

# "The answer is 2 and 3", "2, 3 and 5", "$2$ and $3$", "2和3": a list stated, every value of it
# the answer (read as 2 alone, it was correct against a gold 2).
_STATED_AND = re.compile(
    r"(?:,?[ \t]+(?i:as[ \t]+well[ \t]+as|along[ \t]+with|together[ \t]+with)[ \t]+"  # "12, as well as 13"
    r"|,[ \t]*(?:and[ \t]+)?|[ \t]+and[ \t]+|[ \t]*[，、和与及][ \t]*)" + _STATED_VALUE,
    re.DOTALL,
)
# Where a list stated ends: the sentence or clause does ("2 and 3, since ...", "2 and 3."); "The
# answer is 12 and 13 also works" lists nothing.
_LIST_END = re.compile(
    r"\s*(?:$|[.!?;:,)。！？；，）])"
    r"|\s+(?i:since|because|as|given|so|which|respectively|both|for)\b"
    # "The answer is: 2 and 3 are the solutions."
    r"|\s+(?i:are|were)\s+(?i:(?:both|all)\s+)?(?i:the\s+)?(?i:only\s+)?(?i:real\s+)?"
    r"(?i:solutions|roots|answers|zeros|zeroes)\b"
)
# A list that a verb follows is the subject of a sentence, not a list stated: "The answer is 3 and
# 4 are the legs." (read as {3, 4}); the statement then says nothing ("The answer is 3, and 4 is
# the other leg" states 3: the comma parts the clauses).
_SUBJECT = re.compile(r"[ \t]+(?i:is|are|was|were)\b")
# A scale word after a number: "1.5 thousand", "2 million", "$1.5$k", "25 percent". The number
# restated in it is one value ("The answer is 1500, or 1.5 thousand." was a hedge of 1500 and 1.5).
_SCALE = re.compile(
    r"[ \t]*(?i:(?P<w>thousand|million|billion|trillion)\b)|(?P<k>k)(?![A-Za-z0-9])"
    r"|[ \t]*(?P<pct>\\?%|(?i:percent|per[ \t]+cent)\b)"
)
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12, "k": 10**3}


class _Statement(NamedTuple):
    values: list[str]  # distinct, in order
    end: int  # where they end
    alternatives: bool  # offered as alternatives ("2 or 3"), not a list
    names: tuple  # the name each value is given ("x = 2"), or None
    also: list[str]  # the values written another way ("1.5 million": 1500000)
    subject: bool  # a list the sentence's subject ("3 and 4 are the legs"): nothing stated


def _stated_values(answer: str, m: re.Match, upto: str = "E") -> _Statement:
    """The values a statement gives: one value, a list of them ("2, 3 and 5", read whole), or
    values offered as alternatives ("2 or 3", "2, 3 or 5"). Values written alike ("2 or 2.0",
    "1500, or 1.5 thousand") are one."""

    def read(mm: re.Match) -> tuple[str, int, str | None, str | None]:
        """(value, where it ends, its name or part label "(a)", its scale word) of a value."""
        end = _stated_end(mm)
        scale = _SCALE.match(answer, end)
        word = None
        if scale is not None:
            word = (scale.group("w") or scale.group("k") or "%").lower()
            end = scale.end()
        name = mm.group("nm") or (f"({mm.group('lb')})" if mm.group("lb") else None)
        return _stated_value(mm), end, name, word

    first = read(m)
    values, end, alternatives = [first], first[1], False
    listed: list[tuple] = []  # list items not yet known to end the list, with their joiners
    letter = _ranged(_LETTER_ALONE, upto).fullmatch(first[0]) is not None
    while True:
        alt = _STATED_OR.match(answer, end)
        if alt is not None and _stated_value(alt):
            values += [item for item, _ in listed] + [read(alt)]
            end, listed, alternatives = values[-1][1], [], True
            continue
        more = None if letter else _STATED_AND.match(answer, listed[-1][0][1] if listed else end)
        if more is None or not _stated_value(more):
            break
        bare_and = re.match(r"[ \t]+and[ \t]", answer[more.start() : more.start() + 12])
        listed.append((read(more), bare_and is not None))
    subject = False
    while listed and not _LIST_END.match(answer, listed[-1][0][1]):
        # "The answer is 12, 13 also works": no list; "3 and 4 are the legs": a subject
        item, bare_and = listed.pop()
        subject = subject or (bare_and and _SUBJECT.match(answer, item[1]) is not None)
    if listed:
        values += [item for item, _ in listed]
        end = listed[-1][0][1]
    distinct: list[str] = []
    names: list[str | None] = []
    also: list[str] = []
    keys: dict = {}  # each distinct value's key -> its index
    for v, _, name, word in values:
        scaled = _scaled(v, word)
        # the number with its scale written out ("1500", "25\\%"), as it is compared
        written = v if scaled is None else f"{v}\\%" if word == "%" else _number_text(scaled)
        key = scaled if scaled is not None else _value_key(v)
        if _labelled(name):  # "(a) 12 and (b) 12": each part's value
            key = (name, key)
        at = keys.get(key)
        # (inequalities by their text alone: math-verify compares two in milliseconds, and a
        # looping "x > 1 or x > 2 or ..." compared pairwise took seconds)
        if (
            at is None
            and len(distinct) <= _FEW
            and not _INEQUALITY.search(v)
            and not _labelled(name)
        ):
            at = next((i for i, d in enumerate(distinct) if _same_value(written, d)), None)
        if at is not None:
            if word == "%":  # "0.25, or 25 percent": the percent, right as 25 and as 0.25
                distinct[at] = written
            continue
        keys[key] = len(distinct)
        if scaled is not None:
            also.append(written)
            # a number alone in thousands or millions is read as written ("1.5 million" against
            # a gold 1.5), as it always was; "2k" as written too, 2 times k (2000, or an algebra
            # answer's 2k: never 2, which it was right against)
            if word == "%" or len(values) > 1:
                v = written
            elif word == "k":
                v = f"{v}k"
        distinct.append(_ungrouped(v))
        names.append(name)
    return _Statement(
        distinct, end, alternatives and len(distinct) > 1, tuple(names), also, subject
    )


def _labelled(name: str | None) -> bool:
    """Whether a stated value's name is a part's label ("(a)"), not a variable's."""
    return name is not None and name.startswith("(")


def _scaled(v: str, word: str | None) -> Fraction | None:
    """The number `v` with its scale `word` ("1.5", "thousand": 1500), None without one."""
    n = _plain_number(v) if word is not None else None
    if n is None:
        return None
    return n / 100 if word == "%" else n * _SCALES[word]


def _number_text(n: Fraction) -> str:
    if n.denominator == 1:
        return str(n.numerator)
    return format(Decimal(n.numerator) / Decimal(n.denominator), "f")


# Values compared pairwise while they are this few; past them by their keys alone (a looping
# "The answer is 1, 2, 3, ..." of thousands compared pairwise took minutes).
_FEW = 32


def _value_key(v: str) -> object:
    n = _plain_number(v)
    return n if n is not None else re.sub(r"[\s$]", "", v)


def _written_before(v: str, before: list[str], keys: set) -> bool:
    """Whether `v` is one of the values `before` (their `_value_key`s `keys`) written again."""
    if _value_key(v) in keys:
        return True
    return len(before) <= _FEW and any(_same_value(v, d) for d in before)


def _ungrouped(v: str) -> str:
    """A number's digit groups joined ("1,000" -> "1000"): a list of them written "1,000, 2,000"
    is four numbers to math-verify."""
    t = v.strip().strip("$").strip()
    return re.sub(_GROUP_SEP, "", t) if _GROUPED.fullmatch(t) else v


# A value offered beside the stated answer: a number or inline math, "x = 3" for its value, not
# an operand ("3 * 4 = 12 or 4 * 3 = 12" offers nothing).
_OFFER_NAME = r"(?:[A-Za-z](?:_\{?\w+\}?)?\s*=\s*)"
# a multiple of pi or a root, written bare: "The answer is 2\pi. But 4\pi also works." (the
# 4 was no value offered: one answer, right against 2\pi)
_FACTOR = r"(?:\\pi(?![A-Za-z])|π|\\sqrt[ \t]?\{[^{}]{1,20}\}|\\sqrt[ \t]?\d+|√\d+)(?![.,]?\d)"
_OFFERED = (
    r"(?<![A-Za-z0-9.^_\\])(?P<v>" + _OFFER_NAME + r"?(?:[-+]?\d+(?:,\d{3})*(?:\.\d+)?(?![.,]?\d)"
    # a fraction written bare: "The answer is 0.5 or 1/3." (its "1" was an operand, no value:
    # one answer, right against 0.5)
    r"(?:/\d+(?![.,]?\d))?"
    r"(?:[ \t]{0,2}" + _FACTOR + r")?|[-+]?" + _FACTOR + r")"
    # (inline math of 300 characters at most: each "\\(" of a reply that never closes one was
    # read to the end of its sentence, quadratic time)
    r"|\$(?:\\\$|[^$])+\$|\\\(.{1,300}?\\\))"
    r"(?!\s*(?:[-+*/^=×·<>≤≥%]|\\(?:cdot|times|div|le|ge|neq|pm)\b))"
)
# "so x = 2 or x = 3", "(or 5)", "or possibly 13", "所以x=2或x=3": another value offered; "(or 5
# if n is odd)" one on a condition, as much another answer (it was read as 4 alone). A value
# on the condition of how it is written is the answer in other units: "0.5 (or 50 if expressed
# as a percentage)", "2 hours, or 120 when converted to minutes" (they were hedges, wrong).
_WRITTEN_AS = (
    r"(?!\s+(?i:(?:it\s+is\s+|it'?s\s+|we\s+are\s+|we\s+)?(?:expressed|written|converted"
    r"|measured|given|stated|reported|rounded|counted|in|as|a\s+percent\w*|percent\w*))\b)"
)
_OR_VALUE = re.compile(
    r"(?:(?<![A-Za-z])(?i:or)\s+(?:(?i:maybe|possibly|perhaps|probably|rather|even)\s+)?"
    r"|或(?:者|是)?\s*)" + _OFFERED + r"(?=\s*(?:$|[.!?;:,)。！？；，）])"
    r"|\s+(?i:is|are|works?|would|could|might|also|too|as\s+well|both|unless|otherwise"
    r"|depending|in\s+case)\b|\s+(?i:if|when|whenever|for)\b" + _WRITTEN_AS + ")"
)
# "If n is even, 2 is the answer; otherwise 3.", "The answer is 2 if n is even and 3
# otherwise.", "...; otherwise, the answer is 3": the other case's value, offered as much (the
# first case's value was read alone, right against 2; or the reply's last value, right against 3).
_OTHERWISE_VALUE = re.compile(
    r"(?i:\b(?:otherwise|else))\b[ \t,:]*"
    r"(?:(?i:it\s+is|it'?s|(?:the\s+)?answer\s+is|we\s+get|we\s+have|the\s+value\s+is)\s+)?"
    + _OFFERED
    + r"(?=\s*(?:$|[.!?;:,)。！？；，）]))"
)
_VALUE_OTHERWISE = re.compile(
    r"(?<![A-Za-z])(?i:and|or|but)\s+" + _OFFERED + r"\s+(?i:otherwise|else)\b"
)
# "The answer is 2 if n is even, and 3 if n is odd.", "..., and 13 if the ends count": another
# case's value, as "(or 5 if n is odd)" is ("0.5, and 50 when written as a percent" is not).
_CASE_VALUE = re.compile(
    r"(?<![A-Za-z])(?i:and|but|while|whereas)\s+"
    + _OFFERED
    + r"\s+(?i:if|when|whenever)\b"
    + _WRITTEN_AS
)
# What a case's value comes after: a condition ("The answer is 2 if n is even, and 3 if n is
# odd", "If n is even, the answer is 2; otherwise 3"), or the value stated itself (", and 3 if n
# is odd", "or else 3"). An "and" between operands ("the product of 2 and 2 when n = 1", "3 and
# 7 when combined") and an "otherwise" in a reason ("since otherwise we get 0", "k must be
# positive, otherwise we get 0": a condition of no value) offer nothing (both were read as a
# hedge, wrong).
_CASE_AFTER_VALUE = re.compile(r"(?:[ \t$}*]|\\[)\]])*[,，][ \t]*\Z")  # "$\boxed{5}$, and 6 if"
_OR_BEFORE = re.compile(r"(?i:(?<![A-Za-z])or)[ \t]*\Z")
_REASON_BEFORE = re.compile(
    r"(?i:\b(?:since|because|as|for)[ \t,]*\Z|\b(?:must|need|needs|has\s+to|have\s+to|should"
    r"|cannot|can't)\b[^.;\d$]{0,60}[,(（，][ \t]*\Z)"
)
# "x = 2, since (x-2)^2 = 0, or x = 3": another value offered after the reason for the first.
_COMMA_OR_VALUE = re.compile(r"[,，][ \t]*" + _OR_VALUE.pattern)
# "13 also works", "13 works too", "13 is also a solution", "6 would also work", "x = 3 also
# satisfies", "13 could be the answer", "13也可以": a value asserted as an answer too.
_ASSERTED_VALUE = re.compile(
    _OFFERED + r"\s*(?:"
    r"(?P<how>(?:(?i:would|could|might|may|can|will|should)\s+)?(?:(?i:also|equally)\s+)?)"
    r"(?i:works?|satisf(?:y|ies)|fits?|holds?|(?:is|are|be)\s+(?:(?:also|equally)\s+)?"
    r"(?:(?:a|an|another|the)\s+)?(?:valid|correct|possible|acceptable|right|solution|answer|root))\b"
    r"(?P<rest>[^,;:]*)"
    r"|也(?:可以|行|成立|满足|符合|对|正确|是(?:一个)?(?:解|答案|正确|对)|可能是?))"
)
# "Another solution is 13", "a second answer would be 13".
_ANOTHER_IS = re.compile(
    r"(?i:\b(?:another|a\s+second)\s+(?:(?:valid|possible|correct)\s+)?"
    r"(?:solution|answer|root|possibility|value)\s+(?:is|would\s+be|could\s+be|might\s+be)\s+)"
    + _OFFERED
    + r"(?=\s*(?:$|[.!?;:,)。！？；，）]))"
)
# "which could also be 13", "but it might be 13": a value offered as the answer too (after "X
# is the answer" or "So X, since ..." it was read as X alone, right against X).
_ALSO_BE = re.compile(
    r"(?i:\b(?:could|might|may|can)\s+(?P<also>(?:also|equally)\s+)?be\s+)"
    + _OFFERED
    + r"(?=\s*(?:$|[.!?;:,)。！？；，）]))"
)
# What lets a value start a clause: the sentence's start, punctuation or a conjunction ("but 13
# also works", "since 13 also works"), never another word ("Method 2 also works", "part 2 also
# works").
_CLAUSE_START = re.compile(
    r"(?:^|[,;:(（，、]|\$|\b(?i:so|but|and|though|although|while|whereas|yet|then|thus|hence"
    r"|since|because|as"
    r"|however|also|maybe|perhaps|possibly|probably|or|that|value|number|integer|answer"
    r"|solution|root|even|either)|但是?|不过|所以|因此|而且|并且|或者|即)\s*\Z"
)
# A value conceded in the reason for the one stated, then ruled out by what the sentence goes on
# to ("The answer is 3, since -3 is also a root and x must be positive", "..., as -2 is also a
# root, while only positive lengths make sense"): no hedge ("2 is the answer since 3 also works"
# is one).
_REASON_WORD = re.compile(r"(?i:since|because|as)\b")
_RESTRICTS = re.compile(
    r"(?i)\b(?:must|only|need|needs|needed|positive|negative|non-?negative|exclud\w*"
    r"|rule[sd]?\s+out|cannot|can't|not\s+allowed|take|choose|pick|keep|asks?\s+for)\b"
)
# A value conceded and set aside, beyond a dismissed option's words: "0 also works trivially",
# "-2 also satisfies it but is extraneous", "13 also works, but 12 is smaller".
_SET_ASIDE_VALUE = re.compile(
    r"(?i)\b(?:trivial\w*|extraneous|spurious|reject\w*|discard\w*|degenerate)\b"
    r"|(?<=\w)\W+(?:but|however)\b|舍|增根|平凡"
)
_CONTRAST = re.compile(r"\b(?i:but|though|although|yet|however)\b|但|不过|然而")
# Values joined by "or" and then one chosen or set aside: "so x = 4 or x = -4, but x must be
# positive", "x = 3 or x = 5, and we take 3"; or the next sentence rejects one ("So x = 4 or x =
# -4; rejecting the negative root gives 4.").
_CHOSEN = re.compile(
    r"(?i)\b(?:but|however|though|although|yet|whereas|reject\w*|discard\w*|extraneous|spurious"
    r"|exclud\w*|must|take|choose|pick|keep)\b|但|不过|然而|舍|增根|只有|只能"
)
_REJECTS = re.compile(
    r"(?i)\b(?:reject\w*|discard\w*|extraneous|spurious|exclud\w*|rule[sd]?\s+out)\b|舍|增根"
)
# A condition, no value: "$x < -1$ or $x > 2$" restating the interval answered.
_RELATION = re.compile(
    r"[<>≤≥≠]|\\(?:leq?|geq?|lt|gt|neq?|in|notin|subset\w*|supset\w*)(?![A-Za-z])"
)
# "5!": the factorial, a value written another way ("The answer is 120, or 5!.").
_FACTORIAL = re.compile(r"(?<![\d.])\d+!")
# The unit of a stated value before "or": "45 degrees, or $\frac{\pi}{4}$" converts it.
_UNIT_THEN = re.compile(
    r"(?i)\s*(?!(?:so|thus|hence|therefore|that|which|and|but|since|because|as|or|is|are)\b)"
    r"(?:[a-z]{2,}|°)(?:\s+[a-z]{2,})?\s*[,(]?\s*"
)
_RESTATES = re.compile(
    r"^\W*(?i:so|thus|hence|therefore|i\.?e\.?|that\s+is|in\s+other\s+words|namely|meaning"
    r"|this\s+means)\b|^\W*(?:所以|因此|故|即)"
)
_REASON = re.compile(r"^\W*(?i:since|because|as|given|due)\b|^\W*(?:因为|由于)")
_SUPPOSE = re.compile(
    r"(?i)\b(?:if|suppose|supposing|assume|assuming|whether|unless)\b|如果|假如|假设|若"
)
# "Alternatively, 13.", "Or maybe 13.", "Actually, it's 13.", "Wait... 13.": walked back to
# another value.
# Each run of them reads one way only ("or maybe" is "or" then "maybe"): a reply looping on "or
# maybe or maybe ..." read two ways at each took exponential time (20 of them, 5 s).
_WALK_WORDS = (
    r"(?:(?i:alternatively|or(?:\s+(?:rather|else)\b)?|maybe|perhaps|possibly|actually|wait|hmm+)"
    r"|或者|或许|也许|其实|等等)"
)
_WALKED_TO = re.compile(
    r"\s*(?:" + _WALK_WORDS + r"[\s,:—-]*)*"
    r"(?:(?i:it'?s|it\s+is|it\s+(?:could|might|may)\s+be|the\s+answer\s+(?:could|might|may)\s+be)\s+)?"
    + _OFFERED
    + r"\W*"
)
_WALK_ONLY = re.compile(r"\s*(?:" + _WALK_WORDS + r"[\s,:—-]*)+")
# A value that answers another part of the problem: "For part (b), 13 also works."
_OTHER_PART = re.compile(r"(?i)\bpart\s*\(?\s*(?:[a-h]|[ivx]+|\d)\s*\)?(?![A-Za-z])")
# What the sentences after an answer are split at ("i.e." is no sentence's end).
_ABBREV = re.compile(r"(?i)\b(?:i\.e|e\.g|cf|vs)\.")


def _offered_value(m: re.Match) -> str:
    v = m.group("v").strip()
    if v.startswith("$") or v.startswith("\\("):
        v = v[1:-1] if v.startswith("$") else v[2:-2]
    return re.sub(r"^\s*" + _OFFER_NAME, "", v.strip()).strip()


# "45^\circ", "45°": an angle in degrees, its radians the same value ("$\frac{\pi}{4}$ (or
# $45^\circ$)").
_DEGREES = re.compile(r"\s*(?:\^\s*\{?\s*\\circ\s*\}?|°)\s*\Z")
# A decimal that approximates a value: "$\sqrt{2}$, or 1.414", "$2\pi$ (or 6.28)", "or 3.14159...".
_DECIMAL = re.compile(r"[-+]?\d*\.\d+")


def _same_value(a: str, b: str, timeout: int = 5) -> bool:
    """Whether two values written in a reply are one ("2" and "2.0", "\\frac{1}{2}" and "0.5",
    "\\sqrt{2}" and its decimals "1.414", "\\frac{\\pi}{4}" and "45^\\circ")."""
    a, b = a.strip().strip("$").strip(), b.strip().strip("$").strip()
    na, nb = _plain_number(a), _plain_number(b)
    if na is not None and nb is not None:
        return na == nb
    if _same_text(a, b):
        return True
    for x, y in ((a, b), (b, a)):
        deg = _DEGREES.search(x)
        if deg is not None and deg.start() > 0 and _DEGREES.search(y) is None:
            x = x[: deg.start()]
            radians = f"\\frac{{({x})\\pi}}{{180}}"
            return _same_value(x, y, timeout) or _same_value(radians, y, timeout)
    from math_verify import verify

    pa, pb = _parse(f"${a}$", timeout), _parse(f"${b}$", timeout)
    if not pa or not pb or all(isinstance(x, str) for x in pa + pb):
        return False
    if (na is None) != (nb is None):
        decimal, parsed = (a, pb) if na is not None else (b, pa)
        if _approximates(decimal, parsed):
            return True
    try:
        return bool(verify(list(pa), list(pb), timeout_seconds=timeout))
    except Exception:  # noqa: BLE001 - sympy can raise anything on odd input
        return False


def _approximates(decimal: str, parsed: tuple) -> bool:
    """Whether `decimal` ("1.414") is the value `parsed` (sqrt(2)) rounded or cut to its places,
    two significant digits at least ("0.1" approximates no 1/20: another value)."""
    from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

    import sympy

    if not _DECIMAL.fullmatch(decimal):
        return False
    d = Decimal(decimal)
    if len(d.as_tuple().digits) < 2:
        return False
    try:
        expr = parsed[0]
        if not isinstance(expr, sympy.Expr) or expr.free_symbols or not expr.is_real:
            return False
        exact = Decimal(str(sympy.N(expr, 30)))
        places = Decimal(1).scaleb(d.as_tuple().exponent)
        return d in (exact.quantize(places, ROUND_HALF_UP), exact.quantize(places, ROUND_DOWN))
    except (TypeError, ValueError, ArithmeticError, InvalidOperation, AttributeError):
        return False


def _offered_values(
    tail: str, values: list[str], restating: bool = True, head: str = ""
) -> list[str]:
    """The values other than `values` that what follows a stated answer offers as answers too,
    in order: one asserted ("13 also works", "but 13 is also a solution", "13也可以"), walked
    back to ("Alternatively, 13."), or, in the statement's own sentence or one that restates it
    ("The answer is 2, so x = 2 or x = 3."), joined by "or". A reason ("since 3 * 4 = 12 or
    ..."), a value dismissed ("13 also works but is not prime") or supposed ("if 13 also
    worked") offers nothing. `restating`: whether the tail's first sentence is the statement's
    own; `head`: what comes before the tail (the statement's sentence), where known, for the
    condition a case's value is offered on ("If n is even, the answer is 2; otherwise 3")."""
    blank = lambda m: " " * len(m.group(0))  # noqa: E731 - the offsets stay as they were
    text = _FACTORIAL.sub(blank, _ABBREV.sub(blank, tail))
    out: list[str] = []
    keys = {_value_key(v) for v in values}

    def offer(value: str) -> None:
        if len(out) >= 8 or not value or _RELATION.search(value):
            return  # hedged already (a looping reply); a condition, no value
        if not _written_before(value, [*values, *out], keys):
            out.append(value)
            keys.add(_value_key(value))

    walked = False
    sentences = _sentences_of(text)
    head = _sentences_of(head[-300:])[-1][1] if _VALUED.search(head[-300:]) else ""

    def context(i: int, at: int) -> str:
        """What a value offered at `at` of sentence `i` comes after: its sentence so far (the
        statement's own before the tail for the first), or the sentence before where it opens
        one ("... the answer is 2. Otherwise, 3.")."""
        before = sentences[i][1][:at]
        if i == 0:
            return head + before
        if before.strip(" \t,;:(（，"):
            return before
        return (head if i == 1 else "") + sentences[i - 1][1]

    for i, (_, sentence) in enumerate(sentences):
        if len(out) >= 8:  # a looping reply: hedged already
            break
        if not sentence.strip():
            continue
        if _DISMISSED.search(sentence) or _OTHER_PART.search(sentence):
            walked = False
            continue
        # the first supposition and contrast, once a sentence (searched before each value, a
        # long sentence of them took quadratic time)
        supposed = _SUPPOSE.search(sentence)
        contrast = _CONTRAST.search(sentence)
        # where the last value is set aside, or one chosen (searched once a sentence, not from
        # each value: a long sentence of them took quadratic time)
        aside = max((a.start() for a in _SET_ASIDE_VALUE.finditer(sentence)), default=-1)
        chosen = max((c.start() for c in _CHOSEN.finditer(sentence)), default=-1)
        whole = _WALKED_TO.fullmatch(sentence)
        if whole is not None and (walked or _WALK_ONLY.match(sentence)):
            offer(_offered_value(whole))
        walked = _WALK_ONLY.fullmatch(sentence) is not None
        own = (i == 0 and restating) or _RESTATES.search(sentence) is not None
        later = next((s for _, s in sentences[i + 1 :] if s.strip()), "")
        if own and not (i == 0 and _REASON.search(sentence)) and not _REJECTS.search(later):
            for m in _OR_VALUE.finditer(sentence):
                if (supposed and supposed.start() < m.start()) or chosen >= m.end():
                    continue
                value = _offered_value(m)
                if (
                    i == 0
                    and _plain_number(value) is None
                    and _UNIT_THEN.fullmatch(sentence, 0, m.start())
                ):
                    continue  # "45 degrees, or $\\frac{\\pi}{4}$": the value in other units
                offer(value)
        for m in _ASSERTED_VALUE.finditer(sentence):
            opens = _CLAUSE_START.search(sentence, max(0, m.start() - 20), m.start())
            if opens is None:
                continue
            if _REASON_WORD.match(opens.group(0)) and _RESTRICTS.search(sentence, m.end("v")):
                continue  # "3, since -3 is also a root and x must be positive": set aside
            if (supposed and supposed.start() < m.start()) or aside >= m.start():
                continue
            marked = (
                m.group("how") is None  # 也
                or re.search(r"(?i)\b(?:also|equally|would|could|might|may|another)\b", m.group(0))
                or re.search(r"(?i)\b(?:too|as\s+well)\b", m.group("rest") or "")
                or (contrast and contrast.start() < m.start())
            )
            if marked:
                offer(_offered_value(m))
        for m in _ANOTHER_IS.finditer(sentence):
            if not (supposed and supposed.start() < m.start()):
                offer(_offered_value(m))
        for m in _VALUE_OTHERWISE.finditer(sentence):  # the condition's other case
            offer(_offered_value(m))
        for m in _OTHERWISE_VALUE.finditer(sentence):
            before = context(i, m.start())
            if _REASON_BEFORE.search(before[-80:]):
                continue  # "since otherwise we get 0": a reason
            if _OR_BEFORE.search(before) or _CASE_CONDITION.search(before):
                offer(_offered_value(m))
        for m in _CASE_VALUE.finditer(sentence):
            before = context(i, m.start())
            own = i == 0 and _CASE_AFTER_VALUE.fullmatch(sentence, 0, m.start())
            if own or _CASE_CONDITION.search(before):
                offer(_offered_value(m))
        for m in _ALSO_BE.finditer(sentence):
            if (supposed and supposed.start() < m.start()) or aside >= m.start():
                continue
            if m.group("also") or (contrast and contrast.start() < m.start()):
                offer(_offered_value(m))
    return out


def _sentences_of(text: str) -> list[tuple[int, str]]:
    return [(m.start(), m.group(0)) for m in _SENTENCE.finditer(text)]


_OFFERED_VALUE = re.compile(_OFFERED)
# A number that is an operand, "(x-2)", "5x", "2 \\cdot 3" (the operator after one is read by
# `_OFFERED`), or the right side of an equation in an unknown, "(x-2)(x-3) = 0", "x^2 - 5x + 6 =
# 0" (a condition, no value offered; "2 + 3 = 5" offers its 5).
_OPERAND_BEFORE = re.compile(r"(?:[-+*/^(×·]|\\(?:cdot|times|div)(?![A-Za-z]))[ \t]*\Z")
_UNKNOWN_EQUALS = re.compile(r"(?<![A-Za-z\\])[A-Za-z](?![A-Za-z])[^=]*=[ \t]*\Z")


def _in_equation(text: str, m: re.Match) -> bool:
    """Whether the value `m` found in `text` is part of an equation (`_OPERAND_BEFORE`,
    `_UNKNOWN_EQUALS`), not one offered."""
    before = text[max(0, m.start() - 80) : m.start()]
    before = re.split(r"[,;:]", before)[-1]  # the clause it is in
    return (
        _OPERAND_BEFORE.search(before) is not None
        or re.match(r"[)A-Za-z]", text[m.end() : m.end() + 1]) is not None
        or _UNKNOWN_EQUALS.search(before) is not None
    )


# A unit written after a value inside a sentence ("5 m/s or 7 m/s").
_UNIT_INSIDE = re.compile(
    r"(?<=[\d}$])(?P<u>(?:[ \t~]|\\[,;: ])+" + _UNIT_BODY + r")(?![A-Za-z/^\d])"
)


def _same_units_dropped(sentence: str) -> str:
    """`sentence` without the unit its values are each written with, where two or more are and
    the unit is one ("The speed is 5 m/s or 7 m/s.": "The speed is 5 or 7.", the values a hedge
    offers; read as is, the unit hid the 7 offered, and the reply was judged on it, right against
    7). Values in two units ("5 m/s or 18 km/h") are one value converted: kept as they are."""
    units = list(_UNIT_INSIDE.finditer(sentence))
    if len(units) < 2 or len({re.sub(r"[\s~\\,;:]", "", u.group("u")) for u in units}) > 1:
        return sentence
    return _UNIT_INSIDE.sub("", sentence)


# A value written in bare LaTeX, out of math delimiters: "\frac{3}{4}", "2\sqrt{3}", "\pi/2".
_BARE_LATEX_VALUE = re.compile(
    r"(?P<v>[-+]?(?:\d+(?:\.\d+)?[ \t]*)?\\(?:[dt]?frac[ \t]*\{[^{}]{1,40}\}[ \t]*\{[^{}]{1,40}\}"
    r"|sqrt[ \t]*(?:\[[^\]]{1,10}\])?\{[^{}]{1,40}\}|pi(?![A-Za-z]))(?:/\d+)?)"
)


# A value, then the same value written again: "So the probability is 1/6, or about 0.167.", "The
# time taken is 2 hours or 120 minutes.", "Hence there are 120 arrangements, or 5!.", "The speed
# is 5 m/s or 18 km/h." (read as the reply's last value, or the last with its unit, a right
# answer of 1/6, 2, 120, 5 was wrong). Its parts: a value ("1/6", "$\frac{1}{6}$", "0.167",
# "16.7%", "5!", "\sqrt{2}"), the words after it (its unit, a noun: "arrangements", "m long"),
# what joins the two ("or", "i.e.", "that is", "about", "≈", brackets).
_APPROX = (
    r"(?:(?i:about|approximately|approx|roughly|around|nearly|almost)(?![A-Za-z])|≈"
    r"|\\approx(?![A-Za-z])|~)"
)
_RESTATED_VALUE = (
    r"(?:\$[^$]{1,80}\$|\\\((?:(?!\\\)).){1,80}\\\)"
    r"|[-+]?(?:\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)(?![.,]?\d)(?:/\d+(?![.,]?\d))?(?:[ \t]*\\?%|ǃ)?"
    + r"|"
    + _BARE_LATEX_VALUE.pattern.replace("(?P<v>", "(?:")
    + r")"
)
_RESTATED_WORDS = (
    r"(?:(?:[ \t]*(?:\\[,;: ]|~)[ \t]*|[ \t]+)"
    r"(?!(?i:or|i[.․]e|that|which|and|but|so|since|because|as|if|when)(?![A-Za-z]))"
    r"(?!" + _APPROX + r")"
    r"[A-Za-z]+(?:/[A-Za-z]+)?(?:\^\{?[23]\}?|[²³])?){0,3}"
)
_RESTATE_JOIN = r"(?i:or|i[.․]e[.․]?,?|that[ \t]+is,?)"
_WHICH_IS = r"(?i:which[ \t]+(?:is|equals))[ \t]+(?:(?i:exactly|equal[ \t]+to)[ \t]+)?"
_RESTATEMENT = re.compile(
    r"(?P<pre>[^\d$\\ǃ≈~]{0,200}?)(?P<x>" + _RESTATED_VALUE + r")(?P<wx>" + _RESTATED_WORDS + r")"
    r"(?:[ \t]*,?[ \t]*" + _RESTATE_JOIN + r"[ \t]+(?P<a1>" + _APPROX + r"[ \t]*)?"
    r"(?:[A-Za-z][ \t]*=[ \t]*)?(?P<y1>" + _RESTATED_VALUE + r")(?P<w1>" + _RESTATED_WORDS + r")"
    r"|[ \t]*,?[ \t]*(?P<a2>" + _APPROX + r")[ \t]*(?P<y2>" + _RESTATED_VALUE + r")"
    r"(?P<w2>" + _RESTATED_WORDS + r")"
    r"|[ \t]*[(（][ \t]*(?:" + _RESTATE_JOIN + r"[ \t]+)?(?P<a3>" + _APPROX + r"[ \t]*)?"
    r"(?P<y3>" + _RESTATED_VALUE + r")(?P<w3>" + _RESTATED_WORDS + r")[ \t]*[)）]"
    # ", which is (about) Y": the same value again, never a hedge ("1/6, which is about 0.167")
    r"|[ \t]*,[ \t]*" + _WHICH_IS + r"(?P<a4>" + _APPROX + r"[ \t]*)?"
    r"(?P<y4>" + _RESTATED_VALUE + r")(?P<w4>" + _RESTATED_WORDS + r"))"
    r"[ \t*]*"
)
# Words before the value that say it is not given as the answer: negated, supposed, hedged.
_NOT_GIVEN_BEFORE = re.compile(
    r"(?i:\b(?:not|never|no|cannot|if|suppose|assume|assuming|could|might|may|either|whether"
    r"|unless|or|maybe|perhaps|possibly|probably)\b|n't\b)"
)
# Units a value is restated in, by what they measure: (dimension, size in its base unit); the
# names as written after a value, lowercased (but a one-letter unit: "m", "s", "g", "h", "L").
_LENGTHS = {"mm": 0.001, "cm": 0.01, "m": 1.0, "km": 1000.0, "in": 0.0254, "ft": 0.3048}
_LENGTHS |= {"yd": 0.9144, "mi": 1609.344}
_UNIT_SIZES: dict[str, tuple[str, float]] = {
    **{u: ("m", f) for u, f in _LENGTHS.items()},
    **{u + p: ("m2", f * f) for u, f in _LENGTHS.items() for p in ("^2", "^{2}", "²")},
    **{u + p: ("m3", f**3) for u, f in _LENGTHS.items() for p in ("^3", "^{3}", "³")},
}
for _names, _size in (
    ("millimeter millimetre", ("m", 0.001)),
    ("centimeter centimetre", ("m", 0.01)),
    ("meter metre", ("m", 1.0)),
    ("kilometer kilometre", ("m", 1000.0)),
    ("inch inches", ("m", 0.0254)),
    ("foot feet", ("m", 0.3048)),
    ("yard", ("m", 0.9144)),
    ("mile", ("m", 1609.344)),
    ("ml milliliter millilitre", ("m3", 1e-6)),
    ("L liter litre", ("m3", 1e-3)),
    ("s sec second", ("s", 1.0)),
    ("min minute", ("s", 60.0)),
    ("h hr hour", ("s", 3600.0)),
    ("day", ("s", 86400.0)),
    ("week", ("s", 604800.0)),
    ("mg milligram", ("g", 0.001)),
    ("g gram", ("g", 1.0)),
    ("kg kilogram", ("g", 1000.0)),
    ("lb pound", ("g", 453.59237)),
    ("oz ounce", ("g", 28.349523125)),
    ("m/s", ("m/s", 1.0)),
    ("km/h km/hr kph kmph", ("m/s", 1 / 3.6)),
    ("mph", ("m/s", 0.44704)),
    ("ft/s", ("m/s", 0.3048)),
    ("degree", ("rad", pi / 180)),
    ("rad radian", ("rad", 1.0)),
):
    for _name in _names.split():
        _UNIT_SIZES[_name] = _size
        if len(_name) > 2 and "/" not in _name and not _name.endswith("s"):
            _UNIT_SIZES[_name + "s"] = _size  # "hours", "meters", "secs"


def _unit_size(words: str) -> tuple[str, float] | None:
    """(dimension, size) of the unit the first of `words` after a value is ("m/s", "hours",
    "cm^2"), None where it is none of `_UNIT_SIZES`'."""
    first = re.match(r"[ \t~\\,;:]*([A-Za-z]+(?:/[A-Za-z]+)?(?:\^\{?[23]\}?|[²³])?)", words)
    if first is None:
        return None
    w = first.group(1)
    return _UNIT_SIZES.get(w if len(w) == 1 else w.lower())


def _numeric(value: str) -> tuple[float, int | None] | None:
    """(the number a value written in a reply is, the decimal places it is written to or None
    where it is exact: a fraction, a root), None where it is no number."""
    t = value.strip()
    inline = re.fullmatch(r"\$([^$]+)\$|\\\((.+?)\\\)", t)
    if inline is not None:
        t = (inline.group(1) or inline.group(2)).strip()
    percent = re.fullmatch(r"(.+?)[ \t]*\\?%", t)
    if percent is not None:
        inner = _numeric(percent.group(1))
        if inner is None:
            return None
        return inner[0] / 100, None if inner[1] is None else inner[1] + 2
    fact = re.fullmatch(r"(\d{1,3})[ǃ!]", t)
    if fact is not None:
        return float(factorial(int(fact.group(1)))), None
    n = _plain_number(t)
    if n is not None:
        places = re.search(r"\.(\d+)\Z", re.sub(_GROUP_SEP, "", t)) if "/" not in t else None
        return float(n), (len(places.group(1)) if places else (None if "/" in t else 0))
    import sympy

    parsed = _parse(f"${t}$", 5)
    expr = parsed[0] if parsed else None
    if not isinstance(expr, sympy.Expr) or expr.free_symbols:
        return None
    try:
        return float(sympy.N(expr)), None
    except (TypeError, ValueError, ArithmeticError):
        return None


def _restated_ending(answer: str) -> tuple[list[str], bool] | None:
    """(values, whether they are a hedge) of a reply with no box or statement whose last
    sentence is a value and the same value written again (`_RESTATEMENT`: "1/6, or about 0.167",
    "2 hours or 120 minutes", "120 arrangements, or 5!", "5 m/s or 18 km/h"): the value, then
    the other writing's, no hedge (the answer is the first; either is right against a gold);
    or two values of one quantity in units that make them two ("5 m/s or 20 km/h"): a hedge.
    The same value is numerically equal, or within the rounding the second's places admit where
    it approximates (about, approximately, ≈) or converts to another unit. None for any other."""
    sentences = [s for _, s in _sentences_of(_restatable(answer[-2000:])) if s.strip(" \t*_")]
    if not sentences:  # ("...18 km/h.**")
        return None
    return _restatement(sentences[-1].strip())


def _restatable(text: str) -> str:
    """`text` with no sentence's end in an abbreviation ("i.e.") or a factorial ("5!")."""
    text = _ABBREV.sub(lambda m: m.group(0).replace(".", "․"), text)
    return re.sub(r"(?<=\d)!", "ǃ", text)  # "5!": a factorial, no sentence's end


def _restatement(last: str) -> tuple[list[str], bool] | None:
    """`_restated_ending`'s reading of one sentence (`_restatable`'s, its end cut)."""
    m = _RESTATEMENT.fullmatch(last)
    if m is None or _NOT_GIVEN_BEFORE.search(m.group("pre")) or _SUPPOSE.search(m.group("pre")):
        return None
    k = next(i for i in "1234" if m.group("y" + i) is not None)
    x, y = m.group("x"), m.group("y" + k)
    approx = m.group("a" + k) is not None
    xs, ys = _unit_size(m.group("wx")), _unit_size(m.group("w" + k))
    xn, yn = _numeric(x), _numeric(y)
    if xn is None or yn is None:
        return None
    xv, (yv, places) = xn[0], yn
    if xs is not None and ys is not None:
        if xs[0] != ys[0]:
            return None  # two quantities
        xv, approx = xv * xs[1] / ys[1], True  # a conversion is written rounded
    elif xs is not None or ys is not None:
        approx = False  # "2 hours, or about 120": no unit to read the 120 in
    digits = len(re.sub(r"\D", "", y).lstrip("0"))
    if places is not None and (approx or (digits >= 2 and places > 0)):
        # rounded or cut to its places ("1/6, or about 0.17"); a decimal of one significant
        # digit, or a whole number, only where it says it approximates ("0.2" is another value
        # than 1/6; "15.5 or 16", "10.4 or 10" two answers, a hedge)
        step = 10.0**-places
        same = (yv != 0 or xv == 0) and (
            abs(xv - yv) <= step / 2 * (1 + 1e-9)
            or (0 <= abs(xv) - abs(yv) < step and (xv >= 0) == (yv >= 0))
        )
    else:
        same = abs(xv - yv) <= 1e-9 * max(1.0, abs(xv))
    value = x.replace("ǃ", "!")
    if same:  # (the value, then the same written again: a gold written so is right too)
        return [_subject_value(value) or value, _subject_value(y) or y.replace("ǃ", "!")], False
    if xs is not None and ys is not None and k != "4":  # "5 m/s or 20 km/h": two speeds
        return [_subject_value(value) or value, _subject_value(y) or y], True
    return None  # ("5 m/s, which is 20 km/h": a conversion gone wrong, no hedge)


def _offered_in_units(answer: str, start: int, value: str, upto: str = "E") -> list[str]:
    """The values offered beside `value`, stated at `start`, that its unit hid: in its sentence
    each in one unit ("The answer is 5 m/s or 7 m/s, depending on the frame.": [7], as
    `_unstated_hedge` reads it without "The answer is"), or two of one quantity (`_restatement`:
    "The answer is 5 m/s or 20 km/h.": [20]); [] where it is one value restated ("2 hours or
    120 minutes") or none."""
    text = _restatable(answer[max(0, start - 200) : start + 600])
    at = min(start, 200)
    sentence = next((s for i, s in _sentences_of(text) if i <= at < i + len(s)), "")
    if not sentence.strip(" \t*_"):
        return []
    said = _restatement(sentence.strip())
    if said is not None:
        return said[0][1:] if said[1] and said[0][0] == value else []
    dropped = _same_units_dropped(sentence)
    if dropped == sentence:
        return []
    read, _, hedged, _ = _final_answer(dropped.replace("․", ".").replace("ǃ", "!"), upto)
    values = read.split(", ") if read is not None and hedged else []
    return values[1:] if values and values[0] == value else []


def _remark_restates(sentence: str, clause: str, value: str) -> bool:
    """Whether a sentence's "which" remark (`clause`) says its `value` again ("So the probability
    is 1/6, which is about 0.167.", "...120 minutes, which is 2 hours.", "So n = 84, which is 2^2
    \\cdot 3 \\cdot 7."): the value is the one stated first (`_restatement`), no other."""
    said = _restatement(_restatable(sentence).strip())
    if said is not None:
        return not said[1]
    remark = _REMARK_IS.match(clause)
    if remark is None:
        return False
    x, y = _numeric(value), _numeric(clause[remark.end() :].strip().rstrip(" .*"))
    return x is not None and y is not None and abs(x[0] - y[0]) <= 1e-9 * max(1.0, abs(x[0]))


_REMARK_IS = re.compile(r"[ \t]*,[ \t]*" + _WHICH_IS)


def _unstated_hedge(answer: str) -> list[str]:
    """The values a reply with no box and no statement offers in its last sentence, where it
    offers two or more ("x=2, but x=3 also satisfies."; math-verify's read of it took the last
    one), else []. Judged as a hedge stated: "So x = 2 or x = 3." is right against "2, 3" (it
    was wrong: the whole reply read, the 3 alone)."""
    tail = _ABBREV.sub(lambda m: " " * len(m.group(0)), answer[-2000:])
    sentences = [s for _, s in _sentences_of(tail)]
    sentences = [s for s in sentences if s.strip()]
    if not sentences:
        return []
    last = _same_units_dropped(sentences[-1])
    first = next(
        (
            m
            for m in _OFFERED_VALUE.finditer(last)
            if not _in_equation(last, m) and not _in_condition(last, m.start())
        ),
        None,
    )
    if first is None:
        return []
    values = [_offered_value(first)]
    offered = _offered_values(
        last[first.end() :], values, restating=False, head=last[: first.end()]
    )
    return [*values, *offered] if offered else []


# A reply with no box or statement is judged on math-verify's read of it, its last value; where
# that value is one the reply does not give as its answer, there is no answer to read: "2 is
# not the answer.", "The answer is not 2.", "Suppose 2 is the answer. Then 2 + 2 = 5, a
# contradiction.", "If n is even, x = 2; otherwise x = 3." (each was right against the value
# named last).
_NOT_THE_ANSWER = re.compile(
    r"(?i:\b(?:(?:is|are|was|were|must|could|would|will|does|do|should)(?:\s+not|n't)|cannot"
    r"|can\s+not|can't|won't)(?:\s+be)?\s+(?:(?:the|a|an|our|my|its|any)\s+)?"
    r"(?:(?:only|final|correct|right|valid|real|exact|desired|required)\s+)?"
    r"(?:answer|solution|root|result)s?"
    # "x = -2 is extraneous", "..., which is a spurious root": set aside as much (it was right
    # against -2, the reply's last value)
    r"|\b(?:is|are|was|were)\s+(?:(?:an|a)\s+)?(?:extraneous|spurious)"
    r"(?:\s+(?:answer|solution|root)s?)?)(?![A-Za-z])"
)
_ANSWER_IS_NOT = re.compile(
    r"(?i:\bthe\s+(?:(?:final|correct|right)\s+)?answer\s+(?:is\s+not|isn't|is\s+never|cannot\s+be"
    r"|can't\s+be|(?:would|could|must)(?:\s+not|n't)\s+be))\s*"
)
# A supposition of the answer opening a sentence ("Suppose 2 is the answer", "If the answer is
# 2, ...", "Assume x = 2 is a solution"), the supposed clause up to its first comma or "then";
# "If we add them, 2 is the answer." supposes a way, not the answer.
_SUPPOSES = re.compile(
    r"^\W*(?:(?i:now|so|first|next|then|but)[ \t,]+)?(?:(?i:let'?s|let\s+us)\s+)?"
    r"(?i:suppose|supposing|assume|assuming|if|imagine|say|what\s+if)\s+"
    r"(?P<clause>[^,;:]*?)(?=[,;:]|\s+(?i:then)\b|$)"
)
_ANSWER_WORD = re.compile(r"(?i:\b(?:answer|solution|root)s?\b)")
_CONTRADICTS = re.compile(
    r"(?i:\b(?:contradict\w*|impossible|absurd|not\s+possible|(?:cannot|can't)\s+(?:be|hold)"
    r"|fails?|false|does(?:\s+not|n't)\s+(?:hold|work|satisfy))\b)"
)
_CASE_OPENS = re.compile(r"^\W*(?i:otherwise|else|or\s+else|if\s+not)\b|^\W*否则")
_CONDITION_WORD = re.compile(r"(?i:\b(?:if|when|whenever|unless|in\s+case|provided)\b)|如果|若")
# A case named by "for": "The answer is 2 for even $n$, otherwise 3", "x = 2 for $n$ odd, and 3
# for n > 1" (as much a condition as "if n is even": the other case's value is a hedge).
_CASE_CONDITION = re.compile(
    _CONDITION_WORD.pattern + r"|(?i:\bfor\s+(?:all\s+|every\s+|each\s+|any\s+)?(?:even|odd)\b"
    r"|\bfor\s+\$?[A-Za-z]\$?[ \t]*(?:(?:is[ \t]+)?(?:even|odd)\b|[<>≤≥≠]|\\(?:leq?|geq?|neq?)\b))"
)
# Where a condition ends and what holds on it starts: "If n is even, x = 2", "If n is even then
# x = 2", "When n is even the count is 2", "If n is even we get 2".
_CONDITION_ENDS = re.compile(
    r"[,:，：]|(?i:\bthen\b)|(?=(?i:\b(?:otherwise|else)\b))"
    r"|\s(?=(?i:(?:the\s+[a-z]+|it)\s+(?:is|are|equals?|gives?)\b|we\s+(?:get|have|obtain|find)\b))"
)
# A value said not to be the answer is the subject of "is not the answer": "2 is not the
# answer", "$x = 3$ is not a solution" ("x = 2, which is not a root of the denominator" says it
# of the 2 stated, no other value).
_NEGATED_SUBJECT = re.compile(r"(?:\d|[}$)])[ \t]*\Z")
# Or a pronoun after the value, where the negation ends its clause: "x = 3, which is not a valid
# solution", "x = 1, which is not in the domain, so it is not a solution" (both were read as the
# answer, 3 and 1). "x = 2, which is not a root of the denominator" says nothing against the 2
# ("... not a solution of the original equation" does), nor "which is not a result I expected".
_NEGATED_PRONOUN = re.compile(r"(?i:(?<![A-Za-z])(?:which|it|this|that))[ \t]*\Z")
_PRONOUN_NEGATION_ENDS = re.compile(
    r"[ \t]*(?:\Z|[.,;:!?)（(]|(?i:since|because|as|due[ \t]+to)\b"
    r"|(?i:of|to|for|in)[ \t]+(?i:(?:the|our|this|that)[ \t]+)?(?i:(?:original|given|initial)[ \t]+)?"
    r"(?i:equation|problem|system|question|inequalit))"
)
# The reason given for a value set aside: its numbers are the reason's own ("x = 9 cannot be a
# solution since 9 is odd", "... is not a solution because $x > 0$ is required").
_REASON_AFTER = re.compile(r"(?i:\b(?:since|because|as|due\s+to)\b)|[(（]")


def _negation(sentence: str) -> re.Match | None:
    """The `_NOT_THE_ANSWER` of `sentence` that says a value of it is no answer, its subject
    (`_NEGATED_SUBJECT`, `_NEGATED_PRONOUN`), with no value after it but in the reason given
    (`_REASON_AFTER`); else None."""
    no = _NOT_THE_ANSWER.search(sentence)
    if no is None:
        return None
    reason = _reason_after(sentence, no.end())
    if _VALUED.search(sentence, no.end(), reason.start() if reason else len(sentence)):
        return None
    if _goes_on_after(sentence, reason):
        return None  # "x = 0 is not a solution (it is excluded), so x = 2."
    concludes = _CONCLUDES.search(sentence, reason.end()) if reason else None
    if concludes is not None and _VALUED.search(sentence, concludes.end()):
        return None  # "-3 cannot be the answer because lengths are positive, so it is 5"
    if _NEGATED_SUBJECT.search(sentence, 0, no.start()):
        return no
    if (
        _NEGATED_PRONOUN.search(sentence, 0, no.start())
        and _VALUED.search(sentence, 0, no.start())
        and _PRONOUN_NEGATION_ENDS.match(sentence, no.end())
        and not re.search(r"(?i:\bonly\b)", no.group(0))  # "x = 5, which is not the only root"
    ):
        return no
    return None


# "no contradiction", "not a contradiction", "does not contradict": none.
_NO_CONTRADICTION = re.compile(
    r"(?i:\b(?:no|not|never|without|nor)\s+(?:a\s+|any\s+)?\Z|n't\s+\Z|\bnot\s+(?:a\s+)?\Z)"
)


# What a case says of itself where it gives no value ("If k = 0, the product $ab$ is zero, which
# is not allowed", "If x < 0, |x| = -x and the equation has no solution"), beside a contradiction.
_CASE_FAILS = re.compile(
    r"(?i:\bno\s+(?:real\s+|such\s+|valid\s+)?(?:solutions?|roots?|answers?)\b"
    r"|\bnot\s+(?:allowed|permitted)\b)"
)


def _gives_a_case(text: str) -> bool:
    """Whether `text` (what comes before an "otherwise") is one case of a condition that gives a
    value outside the condition: "If n is even, x = 2", "x = 2 if n is even", "If n is even we get
    2"; "If a = 0, there is no solution" names its 0 only in the condition, "If a = 0, the
    equation becomes $0 = 5$, which is impossible" sets its case aside (what follows "Otherwise"
    is the answer)."""
    cond = _CASE_CONDITION.search(text)
    if cond is None:
        return False
    if _VALUED.search(text, 0, cond.start()):
        return True
    ends = _CONDITION_ENDS.search(text, cond.end() + 1)
    if ends is None or _VALUED.search(text, ends.end()) is None:
        return False
    # the case's own numbers ("$0 = 5$", "$|x| = -x$", "$ab$") are no value where it fails
    return not (_contradicted(text, ends.end()) or _CASE_FAILS.search(text, ends.end()))


def _in_condition(text: str, at: int) -> bool:
    """Whether `at` of `text` is inside a condition ("If a = 0 there is nothing to do, otherwise
    x = 2": its 0 is no value offered)."""
    cond = max(_CONDITION_WORD.finditer(text, 0, at), key=lambda m: m.start(), default=None)
    if cond is None:
        return False
    ends = _CONDITION_ENDS.search(text, cond.end() + 1)
    return ends is None or ends.start() >= at


def _contradicted(text: str, start: int) -> bool:
    """Whether `text` from `start` on comes to a contradiction ("..., a contradiction",
    "impossible") that nothing concludes from to a value ("But this is impossible, so x = 2." goes
    on to its answer); "no contradiction", "does not contradict" are none."""
    found = None
    for m in _CONTRADICTS.finditer(text, start):
        if _NO_CONTRADICTION.search(text, max(start, m.start() - 16), m.start()) is None:
            found = m
    if found is None:
        return False
    concludes = _CONCLUDES.search(text, found.end())
    return concludes is None or _VALUED.search(text, concludes.end()) is None


def _unasserted(answer: str) -> bool:
    """Whether the last value of a reply with no box or statement (the last sentence that holds
    one) is one it does not give as its answer: negated (`_NOT_THE_ANSWER`, `_ANSWER_IS_NOT`),
    supposed (`_SUPPOSES`: a value supposed to be the answer, where the supposition is that
    sentence, or what follows it from its value on ends in a contradiction) or one case of a
    condition ("...; otherwise x = 3")."""
    tail = _ABBREV.sub(lambda m: " " * len(m.group(0)), answer[-2000:])
    sentences = [(at, s) for at, s in _sentences_of(tail) if s.strip()]
    valued = [i for i, (_, s) in enumerate(sentences) if _VALUED.search(s)]
    if not valued:
        return False
    i = valued[-1]
    at, last = sentences[i]
    if _negation(last) is not None or _dismissal(last) is not None:
        return True  # "2 is not the answer.", "x = 3, which is not a valid solution.", "It cannot be 9."
    negated = _ANSWER_IS_NOT.search(last)
    if negated is not None:
        value = _OFFERED_VALUE.match(last, negated.end())
        if value is not None and not _VALUED.search(last, value.end()):
            return True  # "The answer is not 2."
    for j in range(i, max(-1, i - 4), -1):  # the supposition, this sentence or one before it
        sup = _SUPPOSES.match(sentences[j][1])
        clause = sup.group("clause") if sup is not None else ""
        if not (_ANSWER_WORD.search(clause) and _VALUED.search(clause)):
            continue  # "Suppose the answer is x. Then 2x = 4, so x = 2." supposes no value
        if j == i and not _VALUED.search(last, sup.end()):
            return True  # "Suppose 2 is the answer."
        if _contradicted(tail, at):
            return True  # "Suppose 2 is the answer. Then 2 + 2 = 5, a contradiction."
        break
    case = _CASE_OPENS.match(last)
    if case is not None and i > 0 and _gives_a_case(sentences[i - 1][1]):
        return True  # "If n is even, x = 2; otherwise x = 3."
    other = re.search(r"(?i:[,，]\s*(?:otherwise|else)\b)", last)
    if other is not None and _VALUED.search(last, other.end()):
        return _gives_a_case(last[: other.start()])  # "If n is even, 2, else 3"
    return False


def _checked(sentence: str) -> list[str]:
    """The values a check (`_check_run`) substitutes: "Substituting x = 2 into ..." -> ["2"],
    "Plugging 2 and 3 back into ..." -> ["2", "3"]; [] where it names none ("Substituting back
    into the equation, we get 0 = 0")."""
    run = _check_run(sentence)
    if run is None:
        return []
    return [
        _offered_value(m)
        for m in _OFFERED_VALUE.finditer(sentence, 0, run[0])
        if not _in_equation(sentence, m)
    ]


# Where the clause that sets a value aside opens, after a value the sentence gives: "So $k = 4$
# (note that $k = 0$ is not a solution since $k > 0$)", "x = 4, and x = -4 is not a solution".
_ASIDE_OPENS = re.compile(r"[(（,，]|(?i:\b(?:but|however|note|whereas|while)\b)")
# "Thus x = 2 and 3 is not a solution.": a bare "and" opens one too, before a value said not to
# be an answer in the singular ("2 and 3 are not solutions" sets both aside) that names no other
# unknown than the value before it ("x = 2 and y = 3 is not a solution" is the pair).
_AND_ASIDE = re.compile(r"(?i:\band\b)")
_SINGULAR_NOT = re.compile(r"(?i:is|was|must|could|would|will|does|should|cannot|can|won't)\b")
# A sentence that gives no value as its answer: it dismisses one ("It cannot be 9 since 9 is
# odd") or sets one aside.
_DISMISSES = re.compile(
    r"(?i:\b(?:cannot|can't|could\s*not|couldn't|must\s*not|mustn't|is\s+not|isn't)\s+be\b)"
)


# What denies the value right after it: "cannot be 9" (`_DISMISSES`), "is not 9", "isn't 9".
_DENIES = re.compile(
    _DISMISSES.pattern + r"|(?i:\b(?:is|was)\s+not\b|\b(?:isn't|wasn't)(?![A-Za-z]))"
)


def _dismissal(sentence: str) -> tuple[int, str] | None:
    """(where the words start, the value) of the value a sentence dismisses (`_DENIES` right
    before it: "It cannot be 9, since 9 is odd.", "x can't be $-3$ because lengths are
    positive"), with no value after it but in the reason given (`_REASON_AFTER`) and none that
    reason concludes ("..., so it is 5"); else None. (Read as the reply's last value, the 9 was
    its answer: right against 9.)"""
    for no in _DENIES.finditer(sentence):
        at = no.end() + len(re.match(r"[ \t]*", sentence[no.end() :]).group(0))
        # a bare LaTeX value too: "So the ratio is not \frac{3}{4}." (right against 3/4)
        value = _OFFERED_VALUE.match(sentence, at) or _BARE_LATEX_VALUE.match(sentence, at)
        if value is None or _in_equation(sentence, value):
            continue
        reason = _reason_after(sentence, value.end())
        if _VALUED.search(sentence, value.end(), reason.start() if reason else len(sentence)):
            return None
        if _goes_on_after(sentence, reason):
            return None  # "The minimum is not 0 (since x > 0), it is 2.": its 2
        concludes = _CONCLUDES.search(sentence, reason.end()) if reason else None
        if concludes is not None and _VALUED.search(sentence, concludes.end()):
            return None
        return no.start(), _offered_value(value)
    return None


def _reason_after(sentence: str, at: int) -> re.Match | None:
    """The first reason (`_REASON_AFTER`) given from `at` on, where a bracket opens one: "(since
    x > 0)", never a value ("so the pair is (2, 3)" was read as a reason: the value it concludes
    none, and the value negated before it the reply's last)."""
    for m in _REASON_AFTER.finditer(sentence, at):
        inside = sentence[m.end() :]
        if m.group(0) in "(（" and re.match(r"[ \t]*[-+]?[\d$\\.]", inside):
            # a value ("(2, 3)") unless words say why ("It cannot be 9 (9 is odd).": a reason)
            inside = re.split(r"[)）]", inside, maxsplit=1)[0]
            inside = re.sub(r"\$[^$]*\$|\\[A-Za-z]+", " ", inside)
            if not re.search(r"[A-Za-z]{2}", inside):
                continue
        return m
    return None


_CLOSES = re.compile(r"[)）]")


def _goes_on_after(sentence: str, reason: re.Match | None) -> bool:
    """Whether a bracketed reason (`reason`: its bracket) closes and a value follows it ("...
    (since x > 0), it is 2")."""
    if reason is None or reason.group(0) not in "(（":
        return False
    close = _CLOSES.search(sentence, reason.end())
    return close is not None and _VALUED.search(sentence, close.end()) is not None


def _and_aside(sentence: str, subject: list[re.Match]) -> re.Match | None:
    """The bare "and" (`_AND_ASIDE`) right before the last of `subject` (the values before a
    negation), after a value of the same unknown or of none; else None."""
    last = subject[-1]
    ands = list(_AND_ASIDE.finditer(sentence, 0, last.start()))
    if len(subject) < 2 or not ands or sentence[ands[-1].end() : last.start()].strip(" \t$"):
        return None
    if sentence.count("$", 0, ands[-1].start()) % 2:
        return None  # (inside inline math)
    named = [re.match(r"\$?\s*([A-Za-z])(?:_\{?\w+\}?)?\s*=", m.group("v")) for m in subject[-2:]]
    if named[0] and named[1] and named[0].group(1) != named[1].group(1):
        return None  # "x = 2 and y = 3 is not a solution": the pair
    return ands[-1]


# A value set aside right after the one a sentence gives: "Thus x = 4, not 6 (6 is too large).",
# "The speed is 5 m/s, not 7 m/s.", "x = 4 (not 6)", "4, rather than 6", "4 and not 6", "It is 4
# — not 6.", "所以x=4，不是6。" (math-verify's read of the whole reply took the 6: right against the
# value set aside, wrong against the one given). "not only 4 but also 6" sets no value aside, nor
# does "x is not 4, but 6" (the 4 is the one denied, the 6 is read).
_SET_ASIDE_AFTER = re.compile(
    r"(?:[ \t]*[,，][ \t]*(?:(?i:and|but)[ \t]+)?|[ \t]*[—–][ \t]*|[ \t]+--?[ \t]+"
    r"|[ \t]+(?i:and|but)[ \t]+|[ \t]*(?P<br>[(（])[ \t]*)"
    r"(?:(?i:not|rather[ \t]+than|instead[ \t]+of)(?![A-Za-z])|而?不是|而非)[ \t]*"
    r"|[ \t]+(?i:rather[ \t]+than|instead[ \t]+of)[ \t]+"
)
# The same, searched for: a match only where a run of spaces starts (one that starts inside it
# starts at its start too; tried at each space of a long run, each of its leading `[ \t]*` read
# the rest of the run: quadratic, seconds on a sentence of a few thousand spaces)
_SET_ASIDE_SCAN = re.compile(r"(?<![ \t])(?:" + _SET_ASIDE_AFTER.pattern + ")")
# What may come between the value given and the one set aside: its unit or noun, "is the answer"
# ("The speed is 5 m/s, not 7 m/s", "24 cm^2, not 48 cm^2", "4 apples, not 6", "4 is the
# answer, not 6"); never a number, nor a negation or doubt of the value given ("4 is wrong, not
# 6"). Each word after a space, so that a long run of words is read in one way only; no word
# that joins a clause ("4 but also 6").
_SPACE = r"(?:[ \t~]|\\[,;: ])"
_WORDS_AFTER = (
    r"(?:°[CF]?|[ \t]?\\?%|\^\{?\\circ\}?"
    r"|" + _SPACE + r"*\\(?:text|mathrm)\{[^{}]{0,20}\}(?:\^\{?[23]\}?)?"
    r"|" + _SPACE + r"+(?!(?i:but|and|or|nor|not|rather|instead|since|because|as|so|which|if)\b)"
    r"[A-Za-z°]+(?:/[A-Za-z]+)?(?:\^\{?[23]\}?|[²³])?)*"
)
_GIVEN_WORDS = re.compile(r"(?:[$}*)]|\\[)\]])*" + _WORDS_AFTER + r"[ \t*]*")
_UNIT_WORDS_AFTER = re.compile(_WORDS_AFTER)
# A percentage, which `_OFFERED` reads as no value (the "%" an operator): "25%, not 20%".
_PERCENT_VALUE = re.compile(
    r"(?<![A-Za-z0-9.^_\\])(?P<v>[-+]?\d+(?:,\d{3})*(?:\.\d+)?)(?=[ \t]?\\?%)"
)


def _aside_value(sentence: str, at: int) -> re.Match | None:
    """The value set aside at `at` ("6", "$6$", "20%", "\\frac{1}{3}"), or None."""
    return (
        _OFFERED_VALUE.match(sentence, at)
        or _PERCENT_VALUE.match(sentence, at)
        or _BARE_LATEX_VALUE.match(sentence, at)
    )


def _amounts_spaced(sentence: str) -> str:
    """`sentence` with the "$" of each dollar amount read as spacing, the offsets kept: "So she
    earns $18, not $20." (a "$...$" that opens with a number followed by prose, `_dollars`, and
    a "$" left open before a number), never inline math's ("$5$ m/s, not $7$ m/s")."""
    signs = [m.start() for m in re.finditer(r"(?<!\\)\$", sentence)]
    out, i = list(sentence), 0
    while i < len(signs):
        at = signs[i]
        if i + 1 < len(signs):
            inside = sentence[at + 1 : signs[i + 1]]
            if _dollars(inside) == inside:
                i += 2  # inline math
                continue
        if re.match(r"\d", sentence[at + 1 : at + 2]):
            out[at] = " "  # an amount: its "$" no math's
        i += 1
    return "".join(out)


def _set_aside_after(sentence: str) -> tuple[int, list[str]] | None:
    """(where the aside opens, the values it sets aside) of a sentence that gives a value and
    then sets others aside (`_SET_ASIDE_AFTER`: "4, not 6", "4, not 6 or 8", "4, not 6, and not
    8"), where no value follows but in the reason given (`_REASON_AFTER`) and none that reason
    concludes; else None."""
    # (bold read as spacing, the offsets kept: "**Answer: 4** (not 6)", "x = **4**, not 6": the
    # value before "**" was no value, and the 6 read)
    sentence = sentence.replace("**", "  ")
    if "$" in sentence:  # (an amount's "$" as spacing too: "$18, not $20")
        sentence = _amounts_spaced(sentence)
    alone = _NOT_ALONE.match(sentence)
    supposed = _SUPPOSE.search(sentence)
    for m in [alone] if alone is not None else _SET_ASIDE_SCAN.finditer(sentence):
        # (alone: "So we get 7. Not 8.", the value the sentence before gives)
        if alone is None:
            # the value right before it (searched near it only: a long sentence of asides
            # searched from its start at each took quadratic time)
            given = None
            for value in _OFFERED_VALUE.finditer(sentence, max(0, m.start() - 300), m.start()):
                given = value
            for value in _PERCENT_VALUE.finditer(sentence, max(0, m.start() - 300), m.start()):
                given = value if given is None or value.start() > given.start() else given
            if given is None or sentence.count("$", 0, m.start()) % 2:
                continue  # (no value before it, or inside inline math)
            between = sentence[given.end() : m.start()]
            if len(between) > 60 or not _GIVEN_WORDS.fullmatch(between):
                continue
            if _DISMISSED.search(between) or (supposed and supposed.start() < given.start()):
                continue  # "4 is wrong, not 6", "If x = 4, not 6, ...": no value given
            if _DENIED_BEFORE.search(sentence, max(0, given.start() - 80), given.start()):
                continue  # "x is not 4, not 6"
        aside, end, more, bracket = [], m.end(), m, False
        while more is not None:
            bracket = bracket or (
                more.re in (_SET_ASIDE_AFTER, _SET_ASIDE_SCAN) and more.group("br") is not None
            )
            value = _aside_value(sentence, end)
            if value is None or re.match(r"[A-Za-z(]", sentence[value.end() : value.end() + 1]):
                break  # ("not 6x": a term)
            aside.append(_offered_value(value))
            end = _UNIT_WORDS_AFTER.match(sentence, value.end()).end()  # ("not 48 cm^2")
            close = _ASIDE_CLOSES.match(sentence, end) if bracket else None
            if close is not None:  # "x = 4 (not 6)": the bracket closes after it
                end, bracket = close.end(), False
            more = _SET_ASIDE_AFTER.match(sentence, end)
            if more is None and close is None:  # ("x = 4 (not 6) or 8": the 8 offered)
                more = _OR_NOT.match(sentence, end)
            if more is not None:
                end = more.end()
        if more is not None or not aside:
            continue
        if bracket:  # "(not 9, since 9 is odd)": the bracket closes after the reason
            reason = _reason_after(sentence, end)
            close = None
            if reason is not None and not sentence[end : reason.start()].strip(" \t,;:"):
                close = _CLOSES.search(sentence, reason.end())
            if close is None:
                continue
            end = close.end()
        reason = _reason_after(sentence, end)
        if _VALUED.search(sentence, end, reason.start() if reason else len(sentence)):
            continue  # "x = 4, not 6, so y = 3"
        if _goes_on_after(sentence, reason):
            continue
        concludes = _CONCLUDES.search(sentence, reason.end()) if reason else None
        if concludes is not None and _VALUED.search(sentence, concludes.end()):
            continue
        return m.start(), aside
    return None


# A sentence of its own that sets a value aside: "So we get 7. Not 8."
_NOT_ALONE = re.compile(
    r"[ \t*]*(?:(?i:not|rather[ \t]+than|instead[ \t]+of)[ \t]+|而?不是|而非)(?=[-+\d$\\])"
)
# Another value set aside with the one before it: "4, not 6 or 8", "4, not 6 nor 8".
_OR_NOT = re.compile(r"(?:[ \t]*,)?[ \t]+(?i:or|nor)[ \t]+(?=[-+\d$\\])")
# The bracket an aside opened, closing after it: "x = 4 (not 6)", "(not 6 cm)".
_ASIDE_CLOSES = re.compile(r"[^()（）\d$\\]{0,20}[)）]")


# "The answer is not 6, but 4.", "x is not 6 but rather 4", "答案不是6，而是4": the value after the
# one denied (math-verify's read of the reply took the 6 after "The answer is": right against it);
# "x is not only 4 but also 6": both, a hedge (read as the 6 alone, right against it).
_NOT_THEN_VALUE = re.compile(r"(?i:\bnot[ \t]+(?P<only>(?:only|just|merely|simply)[ \t]+)?)|不是")
_BUT_VALUE = re.compile(
    r"[ \t]*(?:[,，][ \t]*)?(?:(?i:but)[ \t]+(?:(?i:also|rather|instead)[ \t]+)?"
    r"(?:(?i:it[ \t]+is|it's|is)[ \t]+)?|而是)"
)


def _not_but(answer: str) -> tuple[list[str], bool] | None:
    """(the values, whether a hedge) of a reply whose last sentence denies a value and then gives
    another (`_NOT_THEN_VALUE`, `_BUT_VALUE`), none before them and none after but in the reason
    given; else None."""
    tail = _ABBREV.sub(lambda m: " " * len(m.group(0)), answer[-2000:])
    sentences = [s for _, s in _sentences_of(tail) if s.strip()]
    if not sentences:
        return None
    last = sentences[-1]
    for no in _NOT_THEN_VALUE.finditer(last):
        if _VALUED.search(last, 0, no.start()) or _SUPPOSE.search(last, 0, no.start()):
            return None  # ("x = 2 and y is not 6 but 4", "If it is not 6 but 4, ...")
        denied = _OFFERED_VALUE.match(last, no.end()) or _BARE_LATEX_VALUE.match(last, no.end())
        if denied is None or re.match(r"[A-Za-z(]", last[denied.end() :]):
            continue
        but = _BUT_VALUE.match(last, _UNIT_WORDS_AFTER.match(last, denied.end()).end())
        given = None
        if but is not None and but.end() > but.start():
            given = _OFFERED_VALUE.match(last, but.end()) or _BARE_LATEX_VALUE.match(
                last, but.end()
            )
        if given is None or re.match(r"[A-Za-z(]", last[given.end() :]):
            return None
        end = _UNIT_WORDS_AFTER.match(last, given.end()).end()
        reason = _reason_after(last, end)
        if _VALUED.search(last, end, reason.start() if reason else len(last)):
            return None  # "..., but 4, so y = 3"
        concludes = _CONCLUDES.search(last, reason.end()) if reason else None
        if _goes_on_after(last, reason) or (
            concludes is not None and _VALUED.search(last, concludes.end())
        ):
            return None
        if no.group("only"):
            return [_offered_value(denied), _offered_value(given)], True
        return [_offered_value(given)], False
    return None


def _aside_cut(answer: str) -> str | None:
    """`answer` up to the aside that its last sentence with a value opens (`_set_aside_after`:
    "The time is 2 hours, not 3 hours, because the speed is 60 km/h.": "The time is 2 hours";
    read whole, the 60 of the reason was its answer), where a value comes before it; else
    None."""
    start = max(0, len(answer) - 2000)
    tail = _ABBREV.sub(lambda m: " " * len(m.group(0)), answer[start:])
    valued = [(at, s) for at, s in _sentences_of(tail) if _VALUED.search(s)]
    if not valued:
        return None
    at, sentence = valued[-1]
    if _negation(sentence) is not None or _dismissal(sentence) is not None:
        return None  # (`_before_checks` reads them)
    aside = _set_aside_after(sentence)
    if aside is None or not _VALUED.search(sentence, 0, aside[0]):
        return None
    return answer[: start + at + aside[0]]


def _before_checks(answer: str) -> str | None:
    """A reply with no box or statement, without the checks it ends with (`_shows_it_holds`: "So
    x = 2. Substituting x = 2 into the equation: the result is 4 - 4 = 0."; math-verify's read of
    the whole reply took the 0), else None where it ends with none. A check is cut only after a
    sentence that gives the value it substitutes, and where it goes on to no value of its own
    ("We need p(1). Substituting x = 1 into the equation gives 1 - 1 = 0." computes the answer,
    "..., gives 9 - 9 = 0, so the remainder is 0." concludes it: they were no answer). A value
    set aside after the one given goes too ("Thus x = 2. Note that 3 is not a solution.": "Thus x
    = 2.", where `_unasserted` found no answer; "So $k = 4$ (note that $k = 0$ is not a
    solution)": "So $k = 4$"), where what comes before gives another value, not in a condition
    ("If k = 0, there is no solution.") nor dismissed ("It cannot be 9."); "x = 5, which is not
    the only solution" sets none aside."""
    start = max(0, len(answer) - 2000)
    tail = _ABBREV.sub(lambda m: " " * len(m.group(0)), answer[start:])
    cut, checked, negated, set_aside = None, [], [], []
    for at, sentence in reversed([(at, s) for at, s in _sentences_of(tail) if s.strip()]):
        run = _check_run(sentence)
        no = _negation(sentence)
        gone = _dismissal(sentence) if no is None else None
        aside_after = _set_aside_after(sentence) if no is None and gone is None else None
        end = len(sentence)
        if run is not None and not _VALUED.search(sentence, run[1]):
            cut = at
            checked += _checked(sentence)
            continue
        if gone is not None:  # "So x = 7. It cannot be 9, since 9 is odd.": "So x = 7."
            negated.append(gone[1])
            if not _VALUED.search(sentence, 0, gone[0]):
                cut = at
                continue
            aside = None
            for m in _ASIDE_OPENS.finditer(sentence, 0, gone[0]):
                if sentence.count("$", 0, m.start()) % 2 == 0:  # (not inside inline math)
                    aside = m
            if aside is None or not _VALUED.search(sentence, 0, aside.start()):
                return None
            end = aside.start()  # "x = 7, but it cannot be 9 since 9 is odd": its 7
        elif no is not None:
            subject = [m for m in _OFFERED_VALUE.finditer(sentence, 0, no.start())]
            if not subject or re.search(r"(?i:\bonly\b)", no.group(0)):
                return None
            negated.append(_offered_value(subject[-1]))  # "x = 3 is not a solution": 3
            aside = None
            for m in _ASIDE_OPENS.finditer(sentence, 0, subject[-1].start()):
                if sentence.count("$", 0, m.start()) % 2 == 0:  # (not inside inline math)
                    aside = m
            if aside is None and _SINGULAR_NOT.match(no.group(0)):
                aside = _and_aside(sentence, subject)
            if aside is None or not _VALUED.search(sentence, 0, aside.start()):
                cut = at
                continue
            end = aside.start()  # the sentence's own value before it
        elif aside_after is not None:  # "Thus x = 4, not 6 (6 is too large).": "Thus x = 4"
            set_aside += aside_after[1]  # (its own value given is in no condition: "The
            # remainder when $2^{10}$ is divided by 7 is 2, not 4.")
            if not _VALUED.search(sentence, 0, aside_after[0]):
                cut = at  # "So we get 7. Not 8.": "So we get 7."
                continue
            end = aside_after[0]
        elif not _VALUED.search(sentence):
            continue
        elif cut is None:
            return None
        own = sentence[:end]
        dismissed = _DISMISSES.search(own) or _SETS_ASIDE.search(own) or _CONTRADICTS.search(own)
        if (negated or set_aside) and dismissed:
            return None  # "It cannot be 9 since 9 is odd. 8 is not the answer either."
        given = [
            _offered_value(m)
            for m in _OFFERED_VALUE.finditer(own)
            if not _in_equation(own, m) and not (negated and _in_condition(own, m.start()))
        ]
        keys = {_value_key(v) for v in given}
        if not given or any(not _written_before(v, given, keys) for v in checked):
            return None  # the check substitutes no value this sentence gives
        if any(_written_before(v, given, keys) for v in [*negated, *set_aside]):
            return None  # "x = 2 or x = 3. But 3 is not a solution.": one of them
        return answer[: start + (at + end if end < len(sentence) else cut)]
    # checks that are the whole reply ("Substituting x = 2 into the equation: 4 - 4 = 0."): no
    # value given, the 0 they come to is none
    done = cut is not None and start == 0 and not negated and not set_aside
    return answer[: start + cut] if done else None


# Option letters: the patterns below read A-E, as a question of five options or fewer offers
# them (a capital past E in a reply is a word, a unit or a symbol far more often than an
# option); a question of more (MMLU-Pro, SuperGPQA: up to ten, A-J) has them read up to its own
# last letter, `upto`, as its prompt names them (`options_of`).
def _ranged(pattern: re.Pattern[str], upto: str) -> re.Pattern[str]:
    """`pattern`, which reads option letters A-E, reading A-`upto`."""
    return pattern if upto == "E" else _reread(pattern.pattern, pattern.flags, upto)


@lru_cache(maxsize=256)
def _reread(source: str, flags: int, upto: str) -> re.Pattern[str]:
    for five, more in (("A-E", f"A-{upto}"), ("a-e", f"a-{upto.lower()}"), ("D-E", f"D-{upto}")):
        source = source.replace(five, more)
    return re.compile(source, flags)


def _upto(options: int, gold: Any = None) -> str:
    """The last option letter a reply is read for: E (A-E), the question's own last where it
    offers more `options`, or a gold letter past E (a set whose prompt names no options)."""
    n = min(max(options, 5), MAX_OPTIONS)
    m = re.fullmatch(r"\s*\(?\s*([F-Z])\s*\)?\s*", gold) if isinstance(gold, str) else None
    if m is not None and ord(m.group(1)) - ord("A") < MAX_OPTIONS:
        n = max(n, ord(m.group(1)) - ord("A") + 1)
    return chr(ord("A") + n - 1)


# An option of the question listed on a line of its own, as a benchmark's own prompt writes it:
# "A) ...", "A. ...", "(A) ...", "A: ..." (MMLU-Pro's "Options:\nA. ...\n...\nJ. ...").
_LAST = chr(ord("A") + MAX_OPTIONS - 1)
_OPTION_LINE = re.compile(
    rf"(?m)^[ \t]*(?:\([ \t]*([A-{_LAST}])[ \t]*\)|([A-{_LAST}])[.):])[ \t]+\S"
)


def _options_listed(text: str) -> int:
    """How many options `text` lists a line each, lettered from A on without a gap (0: none)."""
    letters = {m.group(1) or m.group(2) for m in _OPTION_LINE.finditer(text)}
    n = 0
    while n < MAX_OPTIONS and chr(ord("A") + n) in letters:
        n += 1
    return n


def options_of(rec: dict[str, Any]) -> int:
    """How many options a record's question offers, as its prompt's multiple-choice instruction
    names them (distill.choices: "...where LETTER is one of ABCDEFGHIJ."), else as its prompt
    lists them a line each ("A. ..." to "J. ...": MMLU-Pro's own prompt, a set's prompt column
    of its own) or its gold letter past E says, the more of the two; 5 (A-E) otherwise. Read
    from the instruction alone, a ten-option question in another wording whose gold is A-E was
    read for A-E only: "B. Actually, G also works." judged right, "(G)" no answer and no vote."""
    text = problem_text(rec) or ""
    asked = options_asked(text)
    return asked or ord(_upto(_options_listed(text), rec.get("gold"))) - ord("A") + 1


# "The answer is (B).", "**Answer:** B", "Final answer: $\\text{(C)}$": a choice letter stated with
# no box (math-verify finds no letter in prose: a right choice was no_answer). Capitals only, and
# the line ends there or the sentence does, more sentences after it on the line ("The answer is
# B. Option C fails the boundary condition.", read by the hedge rules as on later lines; it was
# no_answer where verify_choice read B): "the answer is a multiple of 3", "the answer is E. coli"
# are no choice.
# In Chinese (DeepSeek-R1, Qwen): "答案是B。", "因此答案为B", "故选B", "所以选B".
# A comma that gives the reason ends the statement too: "The answer is B, since C fails."
_CHOICE_LEAD_ZH = (
    r"答案(?:[ \t]*[是为為选])?|(?:故|所以|因此|因而|综上|应|应该|本题)[ \t]*选(?:择)?"
)
# A comma that goes on with another clause ends it as well: "The answer is B, and C is wrong."
# (no answer before; what the clause says of C is read as any sentence after it is, "..., or C"
# a hedge).
_CHOICE_CLAUSE = (
    r",[ \t]+(?i:and|or|but|while|whereas|though|although|yet|however|hence|thus|therefore|i\.e"
    r"|that\s+is)\b"
)
_STATED_CHOICE = re.compile(
    r"(?:\b(?i:answer)(?:\s+(?i:is))?|" + _CHOICE_LEAD_ZH + r")[ \t*:：]*(?:\$[ \t]*)?"
    r"(?P<c>(?:\\(?:text|textbf|mathrm|mathbf)\s*\{\s*)?(?:\([ \t]*)?[A-E](?:[ \t]*\))?(?:[ \t]*\})?)"
    r"(?:[ \t]*\$)?[ \t*]*(?:(?:\.[ \t*]*)?$|[.!?;]\**(?=[ \t]+[^\sa-z])|[。！？；]|(?="
    + _REASON_COMMA
    + "|"
    + _CHOICE_CLAUSE
    + "))",
    re.MULTILINE,
)
# "If the answer is B. Then x < 0, which fails.", "Suppose that the answer is B": a statement
# supposed, no answer given ("If we add them, the answer is B." states one).
_SUPPOSED = re.compile(
    r"(?i)\b(?:if|suppose|supposing|assume|assuming|whether|unless|imagine)\s+(?:that\s+)?"
    r"(?:the\s+|our\s+|my\s+)?(?:correct\s+|final\s+|right\s+)?\Z"
    r"|(?:如果|假如|假设|假定|若)\s*(?:正确)?\s*\Z"
)


def _supposed(answer: str, start: int) -> bool:
    """Whether the statement of an answer at `start` is supposed (`_SUPPOSED`)."""
    return _SUPPOSED.search(answer[max(0, start - 40) : start]) is not None


_OTHERWISE = re.compile(r"(?i:\b(?:otherwise|else))\b[ \t,:]*\Z|否则[，,]?\s*\Z")
_NOT_BEFORE = re.compile(r"(?i:\b(?:not|never|no)\s+(?:\w+\s+)?\Z|n't\s+(?:\w+\s+)?\Z)")


def _confirmed(answer: str, start: int) -> bool:
    """Whether the supposition of an answer at `start` is what the reply ends with, its check
    confirming it ("Assume the answer is 4. Then we get $16 = 16$, consistent.", "Suppose the
    answer is 3. Then $3 + 3 = 6$, which doesn't contradict anything.": the answer, as before
    df5ba4d; they were judged on the check's last number), with no contradiction ("Suppose the
    answer is 2. Then 2 + 2 = 5, a contradiction." supposes it still)."""
    rest = answer[start:]
    if len(rest) > 400 or re.search(r"(?i:\b(?:but|however|yet|although|though)\b)", rest):
        return False  # (a supposition the reply goes on from, or one it turns against)
    if _NOT_THE_ANSWER.search(rest) or _ANSWER_IS_NOT.search(rest):
        return False  # "Suppose the answer is 3. So it is not the answer."
    for _, sentence in _sentences_of(rest)[1:]:
        if re.match(r"\W*(?i:so|thus|hence|therefore)\b", sentence) and _VALUED.search(sentence):
            return False  # "... So x = 5.": it goes on to another value
    confirms = False
    for m in _CONTRADICTS.finditer(rest):
        if _NO_CONTRADICTION.search(rest, max(0, m.start() - 16), m.start()) is None:
            return False
        confirms = True  # "no contradiction", "does not contradict"
    for m in _CONFIRMS.finditer(rest):
        if _NOT_BEFORE.search(rest, max(0, m.start() - 16), m.start()) is None:
            confirms = True
    return confirms


def _conditional(answer: str, start: int) -> bool:
    """Whether the statement of an answer at `start` is supposed ("Suppose the answer is 2") or
    the other case of a condition that gave a value ("If n is even, the answer is 2. Otherwise,
    the answer is 3."; after "If k = 0, the product is 0, which is not allowed." it is the
    answer)."""
    if _supposed(answer, start):
        return not _confirmed(answer, start)
    at = max(0, start - 20)
    other = _OTHERWISE.search(answer, at, start)
    if other is None:
        return False
    pieces = [p for _, p in _sentences_of(answer[max(0, other.start() - 300) : other.start()])]
    pieces = [p for p in pieces if p.strip(" \t,;:，")]
    return bool(pieces) and _gives_a_case(pieces[-1])


def _stated_choice(answer: str, start: int, upto: str = "E") -> re.Match | None:
    """The last choice letter stated from `start` on (`_STATED_CHOICE`), one in a supposition
    left out."""
    choice = None
    for m in _ranged(_STATED_CHOICE, upto).finditer(answer, start):
        if not _supposed(answer, m.start()):
            choice = m
    return choice


# A choice named after the stated one ("The answer is B.\n\nWait... option C works, so C."): the
# answer walked back or hedged, so the stated letter does not win. "option c", "(D)", or a
# capital letter of its own; "A" before a lowercase word is the article ("A quick check...").
_LATER_CHOICE = re.compile(
    r"\b(?i:option|choice)\s*(?:\(\s*)?([A-Ea-e])\b|(?<![A-Za-z\\])(\(?)([A-E])\)?(?![A-Za-z0-9])"
)
_ARTICLE = re.compile(
    r"\s+(?!(?:is|was|works|fits|holds|gives|matches|satisfies|instead|too|then|also|could|would"
    r"|might|should|must|seems|fails|does|did)\b)[a-z]"
)
# "I" as the pronoun (a question of nine options or more has an option I): "I think", "I'd say",
# "The answer I got is B". An I followed by what is said of an option ("I is correct", "I
# because ...") is the option.
_PRONOUN_AFTER = (
    r"(?:['’][a-z]|[ \t]+(?!(?:is|was|works|fits|holds|gives|matches|satisfies|seems|fails|instead"
    r"|too|then|because|since|as|given|so|which|and|or|but|not|rather)\b)[a-z])"
)
_PRONOUN = re.compile(_PRONOUN_AFTER)
# A walk-back word offers the choice named with it ("Actually C.", "Or maybe choice e.",
# "Alternatively, C", "Then again, D", "If anything, C": an "Or" that opens a sentence; "A or C
# would need x < 0" is an explanation), or named in the sentence just after it ("Wait... option
# C works").
_WALK_BACK = re.compile(
    r"\b(?i:wait|hmm+|actually|on\s+second\s+thought|or\s+(?:maybe|perhaps|possibly)|maybe|perhaps"
    r"|re-?consider\w*|(?:re|double)-?check\w*|correction|oops|scratch\s+that|no,"
    r"|alternatively|on\s+(?:further\s+)?reflection|then\s+again|if\s+anything)"
    r"|(?:^|(?<=[.!?;:*])\s)\s*Or\b"
    # Chinese: "等等", "其实", "或者C" ("or C"), "不对，C" (a sentence that opens with "not right")
    r"|等等|等一下|其实|或许|也许|或者|再想想|重新(?:考虑|检查)|更正|^\s*不对",
    re.MULTILINE,
)
# What follows a stated letter is judged a sentence at a time (the "..." of "Wait..." ends one;
# the point of "2.5" does not).
_SENTENCE = re.compile(r"(?:[^.!?;\n。！？；]|(?<=\d)\.(?=\d))+")
# A capital A-E that names no option: a unit after a number ("25 °C", "2 C of charge"), a symbol
# in a formula or bond ("E = hν", "C=O", "C–H"), an abbreviation ("E. coli"), the article before
# a name or number ("A Carnot engine", "A 10 N force").
_NOT_AN_OPTION = re.compile(
    r"(?:(?<=\d)|(?<=\d\s)|(?<=°)|(?<=°\s))[A-E](?![A-Za-z0-9])"
    r"|(?<![A-Za-z(\\])[A-E](?=\s*(?:[=≈≡<>≤≥]|[-–—]\s*[A-Z]))"
    r"|(?<![A-Za-z(\\])[A-E]\.(?=\s+[a-z])"
    r"|(?<![A-Za-z(\\])A(?=\s+(?:[A-Z][A-Za-z]{2,}|\d))"
)
# An option list restated after the answer ("A. Mitochondria\nB. Nucleus\nC. Ribosome", "(A) 2
# (B) 4 (C) 6 (D) 8"): the problem's options, none offered. Three labels or more in order.
_LIST_LINE = re.compile(
    r"(?m)^[ \t]*(?:\(\s*[A-E]\s*\)|[A-E][.)])[ \t]*"
    # an option's text, not a remark on the option ("(C) is also correct", "(A) fails: ...")
    r"(?!(?i:is|are|was|were|also|could|would|might|may|can|does|did|fails?|works?|fits?"
    r"|holds?|gives?|satisf\w*|ignores?|must|should|seems?|has|too|again)\b|[-–—:])\S.*$"
)
_INLINE_LIST = re.compile(
    r"\(\s*A\s*\)[^()]+\(\s*B\s*\)[^()]+\(\s*C\s*\)(?:[^()]+\(\s*[D-E]\s*\))*[^()\n]*"
)
# The option after these is the one set aside ("B fits better than C", "B, rather than C, ...",
# "B is correct, unlike C", "between B and C", with B the stated letter).
_SET_ASIDE = r"(?i:than|over|instead\s+of|unlike|rather\s+than|versus|vs\.?)"
# A sentence that says why another option fails names it to dismiss it, walk-back word or not
# ("Actually, option A ignores the friction term, so it is wrong.", "No, C is wrong", "A and C
# would need x < 0"): the usual explanation after a stated letter, no hedge.
_DISMISSED = re.compile(
    r"(?i)\b(?:wrong|incorrect|not|never|neither|nor|cannot|fail(?:s|ed)?|false|invalid|impossible"
    r"|ignor\w*|overstat\w*|understat\w*|over-?count\w*|under-?count\w*|double[- ]count\w*"
    r"|rule[sd]?\s+out|eliminat\w*|exclud\w*|contradict\w*|violat\w*|only\s+(?:if|when|for)"
    r"|unless|would\s+need|too\s+(?:large|small|big|high|low|many|few|much|little)"
    # conceded and set aside ("D is partially true but incomplete", "C is factually correct but
    # irrelevant", "C is close but off by a factor of two", "a valid concern but less direct")
    r"|partial\w*|partly|in\s+part|incomplete|irrelevant|insufficient|inaccurate|imprecise"
    r"|misleading|distractor|trap|tempting|(?<!no\s)less|weaker|worse|close|off\s+by|approximat\w*)\b"
    r"|n't\b|≠|\\neq\b|\bno\W*$"  # "Option A: 3 + 4 = 8, so no."
    # a counterfactual: "C would be correct if the process were isothermal" (from the first
    # "if" only: tried at every "if", a long sentence of them took quadratic time)
    r"|^(?:(?!\bif\b).)*\bif\b.*\bwere\b"
    # Chinese: "选项C是错误的", "C不正确", "排除C" ("不对" that opens a sentence is a walk-back)
    r"|错|不正确|(?<=\S)不对|不成立|不满足|不符|不可能|不能|不是|并非|排除|矛盾|不选|舍去"
    # conceded and set aside: "C项说法正确但与题意无关" ("correct but irrelevant"), "片面", "不全面"
    r"|无关|片面|不全面|不完整|不准确|不充分"
)
# A sentence that asserts another option, walk-back word or not ("But C also works.", "D fits
# too", "(C) could be correct"): a second answer offered, a hedge.
_ASSERTED = re.compile(
    r"(?i)\b(?:works?|fits?|holds|satisf(?:y|ies)|correct|valid|true|better|also|as\s+well"
    r"|equally|(?:could|might|should|must)\s+be|is\s+right"
    r"|answer\s+(?:would|could|might|may)\s+(?:also\s+)?be)\b|\btoo\W*$"
    # Chinese: "C也可能正确", "C也对", "C也正确", "C也行", "C才是正确的"
    r"|也|正确|对的|成立|符合|满足|可能是|才是|才对"
)
# "The answer is B, and so is C.", "So does C.", "The same goes for C.": C said to be as the
# sentence before says, the stated letter (a second answer) or an option dismissed ("Option C
# is wrong. So is D."). The letter right after the words: "so does the voltage at C" is physics.
_AS_BEFORE = re.compile(
    r"(?i:\bso\s+(?:is|are|does|do|would|could|might|can|will)|\bsame\s+(?:for|with|goes\s+for))"
    r"\s+(?i:(?:option|choice)\s*)?\(?[A-E]\)?(?![A-Za-z0-9])"
)
# A value stated before the option it is: "The answer is 5 (option B).", "Answer: $2.5$ (B)".
_VALUE_BEFORE_OPTION = (
    r"(?:\$[^$\n]{1,30}\$|\\\([^\n]{1,30}?\\\)|[-+]?\d[\d,./]*(?:[ \t]*[A-Za-z%°]{1,6})?)"
)
# Another letter joined to the stated one on its line: "Answer: B or C", "B and C", "B/C".
_JOINED = re.compile(r"[ \t]*(?:(?i:or|and|/|&)(?![A-Za-z])|或|和|与|及|、)")
# "Also note that option C is the elastic case": "also" that opens a remark asserts nothing.
_ALSO_REMARK = re.compile(r"(?i)^\W*also,?\s+(?:note|notice|recall|observe|remember|see)\b")
# An option supposed, not asserted: "Suppose that the correct answer is C. Then x < 0, a
# contradiction." checks C, it does not offer it; so do "If C were right", "Assume option C",
# "Suppose we pick C", "假设答案是C", "如果选C". The supposition governs the letter itself: "If
# we take g = 10, C also works" offers C.
_SUPPOSITION = re.compile(
    r"(?i:\b(?:if|suppose|supposing|assume|assuming|imagine|whether)\s+(?:that\s+)?"
    r"(?:we\s+(?:pick|choose|take|select|go\s+with)\s+)?(?:the\s+|our\s+|my\s+)?"
    r"(?:(?:correct|right|final)\s+)?(?:(?:answer|option|choice)\s*(?:(?:is|were|was|be|=)\s*)?)?)"
    r"\(?[A-E]\)?(?![A-Za-z0-9])"
    r"|(?:如果|假如|假设|假定|若)\s*(?:正确\s*)?(?:(?:答案|选项)\s*)?(?:[是为选]\s*)?\(?[A-E]\)?(?![A-Za-z0-9])"
)
# A label that opens a sentence, its text after the point: "A. Mitochondria is wrong."
_LABEL = re.compile(r"\s*(?i:(?:option|choice)\s*)?\(?[A-E]\)?\s*")


def _sentences(after: str, upto: str = "E") -> list[tuple[int, str]]:
    """(start, text) of each sentence of `after`. A label and its option's text on the line are
    one sentence ("A. Mitochondria is wrong." dismisses A; split at its point, the "A" alone
    was read as a second answer), where the text names no option itself ("C. B is wrong.")."""
    spans = [(m.start(), m.group(0)) for m in _SENTENCE.finditer(after)]
    out: list[tuple[int, str]] = []
    i = 0
    while i < len(spans):
        start, text = spans[i]
        end = start + len(text)
        if (
            i + 1 < len(spans)
            and _ranged(_LABEL, upto).fullmatch(text)
            and after[end] == "."
            and spans[i + 1][0] == end + 1
            and not _other_choices(spans[i + 1][1], "", upto)
        ):
            out.append((start, text + "." + spans[i + 1][1]))
            i += 2
            continue
        out.append((start, text))
        i += 1
    return out


def _other_choices(text: str, letter: str, upto: str = "E") -> list[str]:
    """The choice letters other than `letter` that `text` names, in order."""
    out = []
    for m in _ranged(_LATER_CHOICE, upto).finditer(text):
        named = (m.group(1) or m.group(3)).upper()
        if named == letter or named in out:
            continue
        if m.group(3) == "A" and not m.group(2) and _ARTICLE.match(text, m.end()):
            continue  # "A quick check": the article
        if m.group(3) == "I" and not m.group(2) and _PRONOUN.match(text, m.end()):
            continue  # "I think": the pronoun
        out.append(named)
    return out


def _hedged_choices(after: str, letter: str, upto: str = "E") -> list[str]:
    """The other choices that what follows a stated `letter` offers as answers too, in order: a
    careful grader's reading. Another option named with a reason it fails is dismissed; one
    asserted ("C also works", "so C", "C." alone) or offered with a walk-back word ("Actually
    C", "Wait... option C works") is a second answer."""
    out: list[str] = []
    letters = f"[A-{upto}]"
    # "Actually C, not B": the "not" is the stated letter's, not a reason C fails
    own = re.compile(
        rf"(?:(?i:\bnot|n't)\s+|不是\s*)(?i:(?:option|choice)\s*)?\(?{letter}\)?(?![A-Za-z0-9])"
    )
    # "..., so C": the sentence's conclusion, another letter
    concluded = re.compile(
        rf"(?:(?i:\b(?:so|thus|hence|therefore|it'?s|it\s+is))\s+|(?:所以|因此|故|因而)\s*选?\s*)"
        rf"(?i:(?:option|choice)\s*)?\(?(?!{letter}){letters}\)?\W*$"
    )
    # "B is better than C", "between B and C": the other one set aside, no second answer
    aside = re.compile(
        rf"{_SET_ASIDE}\s+(?i:(?:option|choice)\s*)?\(?(?!{letter}){letters}\)?(?![A-Za-z0-9])"
        rf"|(?i:between)\s+\(?{letter}\)?\s+(?i:and)\s+\(?{letters}\)?(?![A-Za-z0-9])"
        rf"|(?i:between)\s+\(?{letters}\)?\s+(?i:and)\s+\(?{letter}\)?(?![A-Za-z0-9])"
    )
    joined_alone = re.compile(
        rf"[ \t]*,[ \t]*(?i:and|or)[ \t]+(?i:(?:option|choice)\s*)?\(?{letters}\)?[\W]*"
    )
    # "The answer is 3 (A), 4 (B).": a second value listed with its option (read as A alone,
    # right against A, where "(A), (B)" is a hedge)
    listed_value = re.compile(
        rf"(?:[ \t]*,[ \t]*(?:(?i:and|or)[ \t]+)?{_VALUE_BEFORE_OPTION}[ \t]*"
        rf"\(\s*(?i:(?:option|choice)\s*)?\(?{letters}\)?\s*\))+[\W]*"
    )
    blank = lambda m: " " * len(m.group(0))  # noqa: E731 - the offsets stay as they were
    after = _ranged(_INLINE_LIST, upto).sub(blank, after)
    listing = _ranged(_LIST_LINE, upto)
    if len(listing.findall(after)) >= 3:
        after = listing.sub(blank, after)
    after = _ranged(_NOT_AN_OPTION, upto).sub(blank, after)
    walked = False  # a walk-back word in the sentence before, naming no choice ("Wait...")
    before_dismissed = False  # whether the last sentence that named an option dismissed it
    for start, sentence in _sentences(after, upto):
        if not sentence.strip():
            continue
        back = _WALK_BACK.search(sentence) is not None
        supposed = _ranged(_SUPPOSITION, upto).sub(blank, sentence)
        others = _other_choices(aside.sub(blank, supposed), letter, upto)
        if others:
            dismissed = _DISMISSED.search(own.sub(" ", sentence)) is not None
            alone = re.fullmatch(rf"\W*(?i:(?:option|choice)\s*)?\(?{letters}\)?\W*", sentence)
            asserted = (
                back
                or walked
                or alone is not None
                or _ASSERTED.search(_ALSO_REMARK.sub(" ", sentence)) is not None
                or concluded.search(sentence) is not None
                or (start == 0 and _JOINED.match(sentence) is not None)
                # "The answer is B, and C.": two letters listed ("..., and C is wrong" is a
                # clause of its own, read as any sentence)
                or (start == 0 and joined_alone.fullmatch(sentence) is not None)
                or (start == 0 and listed_value.fullmatch(sentence) is not None)
                or (not before_dismissed and _ranged(_AS_BEFORE, upto).search(sentence) is not None)
            )
            if asserted and not dismissed:
                out += [c for c in others if c not in out]
            before_dismissed = dismissed or (
                not asserted and _ranged(_AS_BEFORE, upto).search(sentence) is not None
            )
        walked = back and not others
    return out


# "$15 dollars, since she had $20": two dollar amounts, not inline math. A "$...$" that opens
# with a number followed by prose is the amount.
_AMOUNT = re.compile(r"\s*([-+]?\d+(?:,\d{3})*(?:\.\d+)?)(?:[.,;:]?\s+)(.*)", re.DOTALL)


def _dollars(inline: str) -> str:
    m = _AMOUNT.fullmatch(inline)
    if m and _PROSE_WORD.search(re.sub(r"\\[A-Za-z]+|\{[^{}]*\}", " ", m.group(2))):
        return m.group(1)
    return inline


# Between two boxes of one answer ("\boxed{1} and \boxed{2}", "\boxed{(3,3)} \text{ for part (a)
# and } \boxed{(1,1)}", "y_1 = \boxed{..} \) and \( y_2 = \boxed{..}"): delimiters and spacing,
# then at most a few words that include "and"/"or", or nothing but commas.
_GAP_NOISE = re.compile(r"\\(?:quad|qquad|text|mathrm|[,;:! ()\[\]])|[{}$,;]")
_GAP_PART = re.compile(r"(?<![\w\\])\**\((?:[a-h]|i{1,3}|iv)\)[*:.]*(?!\S)")


# "a = \boxed{3}, b = \boxed{5}": the next box's variable, after a comma.
_NEXT_NAME = re.compile(
    r"\s*(?:\$|\\\))?\s*[,;]\s*(?:\$|\\\()?\s*[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(?:\$|\\\()?\s*"
)


# "a = \boxed{3}", "$x = \boxed{3}", "\(y_{2} = \boxed{": the name a box is given, just before it.
_BOX_NAME = re.compile(r"(?<![A-Za-z\\])([A-Za-z])(?:_\{?\w+\}?)?\s*\$?\s*=\s*(?:\$|\\\()?\s*\Z")


# "(a) \boxed{12}, (b) \boxed{13}", "**(b)** $\boxed{13}$": the part a box answers.
_BOX_PART = re.compile(r"(?<![\w\\])\((?P<lb>[a-h]|i{1,3}|iv)\)[ \t*:.]*\$?[ \t]*\Z")


def _box_name(answer: str, start: int) -> str | None:
    """The letter of the name a box at `start` is given ("x" for "x_1 = \\boxed{..}"), or the
    part's label ("(a)"), else None."""
    m = _BOX_NAME.search(answer, max(0, start - 40), start)
    if m is not None:
        return m.group(1)
    m = _BOX_PART.search(answer, max(0, start - 20), start)
    return f"({m.group('lb')})" if m else None


# The problem asks for a pair: "ordered pair", or its form "(a,b)", "$(x, y)$" with no interval
# asked ("f(x, y)" is a function's arguments).
_ASKS_PAIR = re.compile(
    r"\bordered\s+pairs?\b"
    r"|(?:(?<![A-Za-z\\])|(?<=\\left))\(\s*[A-Za-z]\s*,\s*[A-Za-z]\s*(?:\\right)?\)",
    re.IGNORECASE,
)


def _asks_pair(problem: str | None) -> bool:
    if not problem:
        return False
    m = _ASKS_PAIR.search(problem)
    if m is None:
        return False
    return m.group(0).lower().startswith("ordered") or not re.search(r"(?i)\binterval", problem)


def _a_pair(names: tuple, problem: str | None) -> bool:
    """Boxes of two (or more) parts are a pair's coordinates, in order: each named by another
    name ("a = \\boxed{3}, b = \\boxed{5}"), or unnamed where the problem asks for a pair. One
    name boxed twice ("x = \\boxed{3}, x = \\boxed{5}", x_1 and x_2 alike) is one unknown's
    values, never a pair: a gold "(3,5)" is as well the open interval (MATH's interval notation),
    which those roots do not answer."""
    named = [n for n in names if n is not None]
    if len(set(named)) < len(named):
        return False
    if len(named) == len(names):
        return True
    return _asks_pair(problem)


def _connected(gap: str) -> bool:
    # a part's label is no word: "(a) \boxed{12}, (b) \boxed{13}" is one answer of two parts
    # (read as its last box, it was wrong against "12, 13")
    words = _GAP_NOISE.sub(" ", _GAP_PART.sub(" ", gap)).split()
    if not words or _NEXT_NAME.fullmatch(gap):
        return True
    return len(words) <= 6 and any(w.lower() in ("and", "or") for w in words)


def _offered_as_alternatives(gap: str) -> bool:
    """Two boxes joined by "or" ("\\boxed{2} or \\boxed{3}", "or maybe"): candidates offered."""
    return any(w.lower() == "or" for w in _GAP_NOISE.sub(" ", gap).split())


def _stated_value(m: re.Match) -> str:
    g = next(m.group(k) for k in ("dd", "d", "p", "b", "r", "n") if m.group(k) is not None)
    return (_dollars(g) if m.group("d") is not None else g).strip().rstrip(".").strip()


def _stated_end(m: re.Match) -> int:
    """Where a statement's value ends: a "$...$" cut to its amount ends at the amount, its
    closing "$" being the next amount's ("$18 or $20": read as one span, the hedge was lost)."""
    inline = m.group("d")
    if inline is not None and _dollars(inline) != inline:
        return m.start("d") + _AMOUNT.fullmatch(inline).end(1)
    return m.end()


# Statements read back from the last (where one states nothing: "The roots are 2 and 3, so ...",
# "3 and 4 are the legs"), at most this many; and the inequalities combined, at most this many.
_RECENT = 8
_MAX_CONDITIONS = 8
# A value after a statement of roots: it was on the way to another answer.
_VALUED = re.compile(r"\d|\$|\\[(\[]")
_INEQUALITY = re.compile(_INEQ)


def _conditions(values: list[str]) -> bool:
    """Whether `values` are several inequalities ("x > 2", "$x \\le -1$"), few enough to combine."""
    return 1 < len(values) <= _MAX_CONDITIONS and all(_INEQUALITY.search(v) for v in values)


# A reply that ends on inequalities joined by "or" ("So $x < -1$ or $x > 2$.", "x < -1 or x > 2"):
# math-verify's read of it took the last one alone.
_CONDITION = r"(?:\$[^$]{1,80}\$|\\\([^()]{1,80}?\\\)|" + _BARE_CONDITION + ")"
_ENDING_CONDITIONS = re.compile(
    rf"{_CONDITION}(?:[ \t]*,?[ \t]*or[ \t]+{_CONDITION})+[ \t]*[.!]?[ \t*]*\Z"
)


def _ending_conditions(answer: str) -> str | None:
    """The inequalities joined by "or" a reply ends on, as one answer; None where it does not."""
    m = _ENDING_CONDITIONS.search(answer.rstrip()[-400:])
    if m is None:
        return None
    pieces = [c.group(0) for c in re.finditer(_CONDITION, m.group(0))]
    pieces = [re.sub(r"^(?:\$|\\\()|(?:\$|\\\))$", "", c).strip() for c in pieces]
    return " \\text{ or } ".join(pieces) if _conditions(pieces) else None


def _final_answer(
    answer: str, upto: str = "E", derive: bool = True
) -> tuple[str | None, list[str], bool, tuple]:
    """The final answer of a response -> (its text, the boxes written together as its parts).

    The text is a statement after the last box if there is one, else the last box, else None
    (the whole answer is then parsed). The parts are the last run of boxes joined only by
    "and", commas or spacing (math-verify's several-box answers); one box alone is one part; a
    statement of several values ("The answer is 2 and 3", "2, 3 and 5") has them as its parts.
    Boxes offered as alternatives ("\\boxed{2} or \\boxed{3}") are a hedge: the text is all of
    them, the set math-verify reads (wrong against a gold of one value), never the last one;
    so is a statement followed by "or" and another value ("The answer is 2 or 3"), and an
    answer after which another value is offered ("The answer is 12, so 13 also works.", "...,
    so x = 2 or x = 3.": `_offered_values`). Inequalities joined by "or" ("x > 2 or x < -1",
    boxed or stated, or ending a reply) are no hedge: one answer, their union.
    -> (text, parts, whether the text is such a hedge, the name each part is given or None).
    `upto`: the last option letter a choice is read for (E, or the question's own: J for ten).
    `derive`: whether a value derived from named values stated is the answer ("a = 3, b = 4, so
    a + b = 7": 7), as where the gold is one value; else the named values are."""
    alone = _ranged(_LETTER_ALONE, upto)
    boxes = _boxes(answer)
    after = boxes[-1][1] if boxes else 0
    # "Suppose the answer is 2. Then ...", "Otherwise, the answer is 3.": no answer given (a
    # supposition was read as the answer stated, right against 2)
    stated = [m for m in _STATED.finditer(answer, after) if not _conditional(answer, m.start())]
    last = stated[-1] if stated else None
    # "... is the answer." says again what was stated before it: no lead of its own
    leads = [m for m in _LEAD.finditer(answer, after) if not _conditional(answer, m.start())]
    while leads and _restates(answer, leads[-1]):
        leads.pop()
    lead = leads[-1] if leads else None
    post = _postfix_statement(answer, after)
    if post is not None and all(
        m is None or post[1] >= m.end() for m in (last, lead)
    ):  # "x = 2 is the only solution since (x-2)^2 = 0": 2
        value, _, offered = post
        if offered:
            return ", ".join(_ungrouped(v) for v in [value, *offered]), [], True, ()
        return value, [], False, ()
    if lead is not None and (last is None or lead.start() > last.start()):
        # "The answer is 2 \pi.": the last statement, no value `_STATED` reads
        expression = _stated_expression(answer, lead)
        if expression is not None and lead.group("sol") and _moves_on(answer[expression[1] :], []):
            expression = None  # "The solution is 2\sqrt{3}, so y = 5.": no statement
        if expression is not None:
            values, end = expression
            offered = _offered_after(answer[end:], values, answer[max(0, end - 300) : end])
            if offered or len(values) > 1:
                return ", ".join([*values, *offered]), [], True, ()
            return values[0], [], False, ()
    # roots named after a box or an answer stated are a remark ("\\boxed{5}. The roots are 2 and 3.")
    answered = bool(boxes) or any(not m.group("roots") for m in stated)
    # the last statement that states something; a few before it where it does not (a looping
    # reply of them each read to its end took quadratic time)
    for m in reversed(stated[-_RECENT:]):
        if not _stated_value(m):
            break
        st = _stated_values(answer, m, upto)
        values, end = st.values, st.end
        derived = _derived(answer, st) if derive else None
        if derived is not None:  # "The answer is a = 3, b = 4, so a + b = 7.": 7
            values, end = [derived[0]], derived[1]
            st = st._replace(values=values, end=end, alternatives=False, names=(None,), also=[])
        if m.group("roots") and (answered or _VALUED.search(answer, end)):
            continue  # "The roots are 2 and 3, so their sum is 5.": not the answer
        if m.group("sol") and _moves_on(answer[end:], values):
            continue  # "The solution is x = 2, so y = 5.": not the answer
        letter = alone.fullmatch(values[0]) if len(values) == 1 else None
        # "The answer is $B$.\nWait, the answer is C.": the letter stated last is read, as
        # when both are bare (a hedge B, C otherwise: wrong where verify_choice read C)
        later = letter is not None and _stated_choice(answer, end, upto) is not None
        others = (
            _hedged_choices(answer[end:], letter.group(1), upto) if letter and not later else []
        )
        if others:  # "The answer is $B$. But C also works.": hedged, as a letter stated bare
            return ", ".join([letter.group(1), *others]), [], True, ()
        if later:
            break
        # "The answer is 12, so 13 also works.": hedged, as "12 or 13"
        offered = (
            []
            if letter
            else _offered_after(answer[end:], [*values, *st.also], answer[max(0, end - 300) : end])
        )
        if not offered and not letter and len(values) == 1 and not st.alternatives:
            # "The answer is 5 m/s or 7 m/s.": two values of one quantity, a hedge, as without
            # "The answer is" (`_restated_ending`; the unit hid the 7 offered: right against 5);
            # "2 hours or 120 minutes", "1/6, or about 0.167" are one value restated
            offered = _offered_in_units(answer, m.start(), values[0], upto)
        if st.subject and not offered:
            continue  # "The answer is 3 and 4 are the legs.": no list stated
        if not offered and _conditions(values):
            # "x > 2 or x < -1": their union, no hedge; "x > 1 and x < 3": where both hold
            joined = (" \\text{ or } " if st.alternatives else " \\text{ and } ").join(values)
            return joined, [joined], False, (None,)
        if st.alternatives or offered:
            return ", ".join(_ungrouped(v) for v in [*values, *offered]), [], True, ()
        if len(values) > 1:  # "The answer is 2 and 3": the list, as boxes written together
            return ", ".join(values), values, False, st.names
        return values[0], [], False, ()
    choice = _stated_choice(answer, last.end() if last is not None else after, upto)
    if choice is not None:
        stated = choice.group("c").strip()
        letter = alone.fullmatch(stated)
        others = _hedged_choices(answer[choice.end() :], letter.group(1), upto) if letter else []
        if others:
            # walked back or hedged ("The answer is B. Wait... option C works, so C."): the
            # letter stated is no more the answer than those after it, judged as a hedge (wrong)
            return ", ".join([letter.group(1), *others]), [], True, ()
        return stated, [], False, ()
    if not boxes:
        ending = _ending_conditions(answer)
        if ending is not None:  # "So $x < -1$ or $x > 2$.": their union (math-verify took x > 2)
            return ending, [ending], False, (None,)
        instead = _not_but(answer)
        if instead is not None:  # "The answer is not 6, but 4.": 4
            values, hedged = instead
            return ", ".join(_ungrouped(v) for v in values), [], hedged, ()
        given = _aside_cut(answer)
        if given is not None:  # "The time is 2 hours, not 3 hours, because ... 60 km/h.": 2
            return _final_answer(given, upto, derive)
        justified = _justified_value(answer)
        if justified is not None:  # "So x = 2, since (x-2)^2 = 0.": 2
            value, offered = justified
            if offered:
                return ", ".join(_ungrouped(v) for v in [value, *offered]), [], True, ()
            return value, [], False, ()
        alone = _with_unit(answer)
        if alone is not None:  # "3\sqrt{2} m/s": the value (math-verify read 3*sqrt(2)*m/s)
            return alone, [], False, ()
        restated = _restated_ending(answer)
        if restated is not None:  # "So the probability is 1/6, or about 0.167.": 1/6
            values, hedged = restated
            if not hedged:
                return values[0], [], False, ()
            return ", ".join(_ungrouped(v) for v in values), [], True, ()
        hedge = _unstated_hedge(answer)
        if hedge:
            return ", ".join(_ungrouped(v) for v in hedge), [], True, ()
        ending = _last_with_unit(answer) or _last_bare_latex(answer)
        if (
            ending is not None
        ):  # "The speed is 3\sqrt{2} m/s.", "The speed is 3\sqrt{2}.": the value
            return ending, [], False, ()
        return None, [], False, ()
    run = [boxes[-1]]
    hedged = False
    for prev in reversed(boxes[:-1]):
        gap = answer[prev[1] : run[0][0]]
        if not _connected(gap):
            break
        hedged = hedged or _offered_as_alternatives(gap)
        run.insert(0, prev)
    parts = [b[2] for b in run]
    if hedged and _conditions(parts):  # "\\boxed{x<-1} or \\boxed{x>2}": the union, no hedge
        joined = " \\text{ or } ".join(parts)
        return joined, [joined], False, (None,)
    letter = alone.fullmatch(parts[0].strip()) if len(run) == 1 else None
    others = _hedged_choices(answer[run[0][1] :], letter.group(1), upto) if letter else []
    if others:  # "\\boxed{B}. But C also works.": hedged, as a stated letter
        return ", ".join([letter.group(1), *others]), [], True, ()
    end = run[-1][1]
    offered = (
        []
        if hedged or letter
        else _offered_values(answer[end:], parts, head=answer[max(0, end - 300) : end])
    )
    if offered:  # "\\boxed{12}, but 13 also works.": hedged, as a statement
        return ", ".join(_ungrouped(v) for v in [*parts, *offered]), [], True, ()
    names = tuple(_box_name(answer, b[0]) for b in run)
    if len(run) == 1:  # "\\boxed{3\\sqrt{2} m/s}": the value (math-verify read 3*sqrt(2)*m/s)
        parts = [_unit_dropped(parts[0])]
    return (", ".join(parts) if hedged else parts[-1]), parts, hedged, names


# A multiple-choice label: "B", "(B)", "\\textbf{(B)}", and a letter in parentheses followed by
# the option's text, "(B) 12", "\\textbf{(B)}\\ 12", "\\text{(B) } 12" (NuminaMath's amc_aime golds;
# math-verify reads "(B) 12" as the product b*12).
_WRAP = r"(?:\\(?:text|textbf|mathrm|mathbf)\s*\{\s*)?"
_LETTER_ALONE = re.compile(_WRAP + r"\(?\s*([A-E])\s*\)?\s*\}?")
_LETTER_AND_TEXT = re.compile(_WRAP + r"\(\s*([A-E])\s*\)\s*\}?(.*)", re.DOTALL)


# A letter of its own after a choice label's letter: the rest of "(B) and D", "(B), D",
# "(B) 12 or E", "(B) D" (the option's text "Tuesday", "2 and 3", "AB = 4" names no other letter).
_ANOTHER_LETTER = re.compile(
    r"(?:^|,|;|&|/|\b(?:and|or)\b)\s*\(?\s*[A-E]\s*\)?\s*(?=$|[,;.}]|\b(?:and|or)\b)"
)


def _choice_label(text: str, upto: str = "E") -> tuple[str, str] | None:
    """(letter, the option's text or "") of a choice label; None for anything else."""
    t = text.strip().strip("$").strip()
    m = _ranged(_LETTER_ALONE, upto).fullmatch(t)
    if m:
        return m.group(1), ""
    m = _ranged(_LETTER_AND_TEXT, upto).fullmatch(t)
    if not m:
        return None
    rest = re.sub(r"^(?:\\[ ,;:!]|~|\s|[.:])+", "", m.group(2)).strip()
    if re.search(rf"\(\s*[A-{upto}]\s*\)", rest):  # "(B) and (D)": several letters, no one choice
        return None
    if _ranged(_ANOTHER_LETTER, upto).search(_TEXT_MARKUP.sub(r" \1 ", rest).replace("\\", " ")):
        return None  # "(B) and D", "(B), D", "(B) 12 or E": as well several letters
    if rest.endswith("}") and rest.count("}") > rest.count("{"):  # "\\text{(B) 12}"
        rest = rest[:-1].strip()
    return (m.group(1), rest) if rest else None


# \mathrm{e}, \mathrm{i} and \operatorname{sin} as the constants and functions they name:
# latex2sympy reads \mathrm{e} as a symbol and stops at "1 - \frac{1}{\mathrm{e}}".
_UPRIGHT = re.compile(r"\\mathrm\s*\{\s*([ei])\s*\}")
_OPERATOR = re.compile(
    r"\\operatorname\s*\{\s*(sin|cos|tan|cot|sec|csc|arcsin|arccos|arctan|sinh|cosh|tanh|"
    r"ln|log|exp)\s*\}"
)


def _constants(text: str) -> str:
    if "\\mathrm" in text:
        text = _UPRIGHT.sub(r"\1", text)
    if "\\operatorname" in text:
        text = _OPERATOR.sub(r"\\\1", text)
    return text


def _same_text(a: str, b: str) -> bool:
    """The two answers are written the same, up to delimiters, spacing and \\dfrac/\\left."""

    def norm(s: str) -> str:
        s = re.sub(r"\\boxed\s*\{|\\(?:left|right|displaystyle|!|,|;| )|[\s$]", "", s)
        return s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").rstrip(".")

    return norm(a).replace("}", "") == norm(b).replace("}", "")


# A response with no box and no math delimiters that is a bare expression ("10\sqrt3 + \sqrt{4}",
# "-34x-45y+20z-100=0"), not prose: parsed as LaTeX, as the gold is.
_PROSE_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}(?![A-Za-z])")


def _bare_math(text: str) -> bool:
    t = text.strip()
    return (
        0 < len(t) <= 300
        # LaTeX or a variable in it: numbers ("1 000", "1000,99") and equations of numbers
        # ("65 + 50 = 115", whose value math-verify reads) stay plain, as they always were
        and re.search(r"[\\A-Za-z]", t) is not None
        and not re.search(r"\$|\\\(|\\\[", t)
        and not _PROSE_WORD.search(re.sub(r"\\[A-Za-z]+|\{[^{}]*\}", " ", t))
    )


# Text markup around a word answer: \boxed{\text{Paris}}, $\textbf{Positive}$, **Paris**.
_TEXT_MARKUP = re.compile(
    r"\\(?:text|textbf|textit|texttt|textrm|textsf|mathrm|mathbf|mathit|mbox)\s*\{([^{}]*)\}"
)


def normalize_text(s: str) -> str:
    """The text as exact match compares it: unicode forms, case, spacing, a final period, and
    the markup around a word answer (\\text{...}, $...$, **...**) do not count."""
    for _ in range(3):  # \\textbf{\\text{...}}
        s = _TEXT_MARKUP.sub(r"\1", s)
    s = re.sub(r"\\[ ,;:!]|~", " ", s)
    s = s.strip().strip("$").strip().strip("*_").strip()
    s = unicodedata.normalize("NFKC", s).strip().lower()
    s = re.sub(r"\s+", " ", s)
    return s.rstrip(".").strip()


_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)$")

# Digit groups of three: "10,455", "1{,}000", "32,\!348", and the thin-space forms (SI style,
# NuminaMath's olympiad golds) "1\,000", "1\ 000", "1 000", "1~000" that math-verify reads as
# the product 1*0.
_GROUP_SEP = r"(?:,\\!|\{,\}|,|\\[,;: !]|~|[ \u00a0\u2009\u202f])"
_GROUPED = re.compile(rf"[-+]?\d{{1,3}}(?:{_GROUP_SEP}\d{{3}})+(?:\.\d+)?")
# Inside a longer answer ("x = 1\,000") only the thin-space separators: commas and spaces
# there may part a list or a product ("(2, 500)", "2 500" is left to math-verify).
_THIN_GROUPED = re.compile(
    r"(?<![\d.])\d{1,3}(?:(?:\\[,;: ]|~|[\u00a0\u2009\u202f])\d{3})+(?![\d])"
)
_THIN_SEP = re.compile(r"\\[,;: ]|~|[\u00a0\u2009\u202f]")


def _digit_groups(text: str) -> str:
    """1\\,000 -> 1000 wherever a number's digit groups are parted by a thin space."""
    if "\\" not in text and "~" not in text and not re.search("[\u00a0\u2009\u202f]", text):
        return text
    return _THIN_GROUPED.sub(lambda m: _THIN_SEP.sub("", m.group(0)), text)


def _plain_number(s: str) -> Fraction | None:
    s = s.strip().strip("$").strip()
    if _GROUPED.fullmatch(s):
        s = re.sub(_GROUP_SEP, "", s)
    return Fraction(s) if _NUMBER.match(s) else None


# ----------------------------------------------------------------------------- math


@lru_cache(maxsize=65536)
def _parse(text: str, timeout: int) -> tuple:
    global _SLL_FIRST
    from math_verify import parse

    _two_stage_latex_parsing()
    _SLL_FIRST = True
    try:
        return tuple(parse(text, parsing_timeout=timeout))
    finally:
        _SLL_FIRST = False


# latex2sympy's ANTLR parser predicts in full-LL mode, and half of verify's time went to
# full-context prediction (ParserATNSimulator.execATNWithFullContext), which ANTLR never caches.
# ANTLR's two-stage parse: SLL prediction first, which either returns the very parse tree LL
# would (ANTLR's PredictionMode.SLL contract) or fails; on any failure a fresh parser parses
# again in LL, exactly as before. latex2sympy's error listener raises on the first syntax error,
# so SLL never "recovers" into another tree. Same sympy results, ~2x faster parses. Only
# distill's own parses (_parse) take the first stage: math_verify called by anyone else in the
# process (benchmarks/bench_verify.py's plain math-verify) parses as it always did.
_SLL_FIRST = False


@lru_cache(maxsize=1)
def _two_stage_latex_parsing() -> None:
    try:
        from antlr4.atn.PredictionMode import PredictionMode
        from latex2sympy2_extended import latex2sympy2
        from math_verify.errors import TimeoutException
    except ImportError:  # another latex2sympy or math-verify: its own parse, unchanged
        return
    converter = getattr(latex2sympy2, "_Latex2Sympy", None)
    create = getattr(converter, "create_parser", None)
    if create is None:
        return

    def create_parser(self: Any, latex_str: str) -> Any:
        parser = create(self, latex_str)
        if not _SLL_FIRST or not hasattr(parser, "_interp"):
            return parser
        parser._interp.predictionMode = PredictionMode.SLL
        ll_math = type(parser).math

        def math() -> Any:
            try:
                return ll_math(parser)
            except TimeoutException:  # math-verify's alarm: the whole parse is over
                raise
            except Exception:  # noqa: BLE001 - SLL could not decide, or a real syntax error
                return create(self, latex_str).math()  # a new lexer and parser, in LL

        parser.math = math
        return parser

    converter.create_parser = create_parser


# An operation between numbers, in the answer as written: a sum or difference ("61 + 48",
# "\\frac{1}{4}+\\frac{1}{4}"), a product ("3 \\cdot 4"), or the whole answer one power ("2^{10}").
_SUM = re.compile(r"[\d}.)]\s*[-+]\s*[\d(\\]")
_PRODUCT = re.compile(r"[\d})]\s*(?:\\cdot|\\times|\*|×|·)\s*[\d(\\]")
_POWER = re.compile(r"\(?(\d+)\)?\s*\^\s*\{?\s*\d+\s*\}?")
_SCIENTIFIC = re.compile(
    r"[-+]?\d+(?:\.\d+)?\s*(?:\\cdot|\\times|\*|×|·)\s*10\s*\^\s*\{?\s*[-+]?\d+\s*\}?"
)


def _is_number(parsed: tuple) -> bool:
    import sympy

    return any(isinstance(x, sympy.Number) for x in parsed)


def _still_to_compute(parsed: tuple) -> bool:
    """The answer is arithmetic of numbers not yet done: "61 + 48", "3 \\cdot 4", "2^{10}".

    math-verify judges such an expression equal to its value, so "To calculate 61 + 48, you add
    them." (the question restated) was "correct" for gold 109. Against a gold that is a
    number (122, 0.5, \\frac{1}{2}), an answer written with an explicit sum, difference, product
    or power of numbers and a rational value is no answer (MATH's own grader marks it wrong
    too). Numbers in any notation are answers: 3/4, \\frac{1}{2^{3}}, 3^{-1}, 10^{3},
    1.5 \\times 10^{3}; so are irrational forms (2 + \\sqrt{3}) and anything with a variable.
    """
    import sympy

    expr, text = parsed[0], parsed[-1]
    if not isinstance(text, str) or getattr(expr, "free_symbols", True):
        return False
    t = text.strip().strip("$ ").rstrip(".。").strip()
    if _SCIENTIFIC.fullmatch(t):
        return False
    power = _POWER.fullmatch(t)
    if not (_SUM.search(t) or _PRODUCT.search(t) or (power and power.group(1) != "10")):
        return False
    try:  # "61 + 48." parses with a float: its value is still rational
        return sympy.nsimplify(expr, rational=True).is_rational is True
    except Exception:  # noqa: BLE001 - sympy can raise anything on odd input
        return False


def _parts(parsed: tuple) -> int:
    """How many parts a parsed gold has: a set or tuple of several (a list of answers), or the
    two ends of an interval (math-verify reads the ordered pair "(3,5)" as the interval)."""
    import sympy

    first = parsed[0] if parsed else None
    if isinstance(first, (sympy.FiniteSet, sympy.Tuple)):
        return len(first.args)
    if isinstance(first, sympy.Interval):
        return 2
    return 1


# Inequalities on one variable joined by "or" (their union) or "and" (where both hold): "x<-1
# \\text{ or } x>2", math-verify's set of two relations, which no interval equals.
_OR_JOIN = re.compile(
    r"\\text\s*\{\s*or\s*\}|\\(?:lor|vee)(?![A-Za-z])|(?<![A-Za-z\\])or(?![A-Za-z])"
)
_AND_JOIN = re.compile(
    r"\\text\s*\{\s*and\s*\}|\\(?:land|wedge)(?![A-Za-z])|(?<![A-Za-z\\])and(?![A-Za-z])"
)


def _condition_set(text: str, timeout: int) -> tuple[Any, Any] | None:
    """(the set of reals, the variable) that `text`, inequalities on one variable, describes:
    "x > 2" the interval (2, oo), "x < -1 \\text{ or } x > 2" the union, "x > 1 \\text{ and }
    x < 3" the intersection; None for anything else."""
    import sympy

    t = text.strip().strip("$").strip()
    if not _INEQUALITY.search(t):
        return None
    ors, ands = _OR_JOIN.split(t), _AND_JOIN.split(t)
    if len(ors) > 1 and len(ands) > 1:
        return None  # "and" and "or" both: no reading of ours
    pieces = ors if len(ors) > 1 else ands
    if len(pieces) > _MAX_CONDITIONS:
        return None
    sets, var = [], None
    for piece in pieces:
        parsed = _parse(f"${piece.strip()}$", timeout) if piece.strip() else ()
        one = _inequality_set(parsed[0]) if parsed else None
        if one is None or (var is not None and one[1] != var):
            return None
        sets.append(one[0])
        var = one[1]
    try:
        return (sympy.Union(*sets) if len(ors) > 1 else sympy.Intersection(*sets)), var
    except Exception:  # noqa: BLE001 - sympy can raise anything on odd input
        return None


def _inequality_set(expr: Any) -> tuple[Any, Any] | None:
    """(the set of reals, the variable) of one inequality on one variable ("x > 2", "-1 < x <
    2"), None for anything else (an equation, two variables, a number).

    Only a solved one, the variable alone against a number: "x^2 - x - 2 > 0" is the question
    restated, not its answer (its set is the answer: it was judged right), and sympy solving a
    polynomial inequality of high degree took minutes, under no timeout."""
    import sympy

    inequality = (
        sympy.StrictLessThan,
        sympy.LessThan,
        sympy.StrictGreaterThan,
        sympy.GreaterThan,
        sympy.Unequality,
    )
    parts = expr.args if isinstance(expr, sympy.And) else (expr,)
    if not parts or not all(isinstance(x, inequality) for x in parts):
        return None
    if not all(
        (x.lhs.is_Symbol and x.rhs.is_number) or (x.rhs.is_Symbol and x.lhs.is_number)
        for x in parts
    ):
        return None  # "0 < f(x) < 1", "x^2 > 4": math-verify's own reading
    symbols = expr.free_symbols
    if len(symbols) != 1:
        return None
    try:
        return expr.as_set(), next(iter(symbols))
    except Exception:  # noqa: BLE001 - sympy can raise anything on odd input
        return None


def _interval_sets(gold: str, g: tuple, final: str | None, p: tuple, timeout: int) -> tuple | None:
    """(the gold's set, the answer's) where the gold is an interval, a union of them or
    inequalities, and the answer inequalities (or an interval, against inequalities): "x > 2 or x
    < -1" against "(-\\infty,-1)\\cup(2,\\infty)". None otherwise: math-verify judges them."""
    import sympy

    intervals = (sympy.Interval, sympy.Union)
    gold_set = _condition_set(last_boxed(gold) or gold, timeout)
    if gold_set is None and not isinstance(g[0], intervals):
        return None
    if final is not None:
        pred_set = _condition_set(final, timeout)
    else:  # math-verify's read of the whole reply
        pred_set = _inequality_set(p[0])
    if pred_set is None:
        if gold_set is None or not isinstance(p[0], intervals):
            return None
        pred_set = (p[0], None)
    if gold_set is None:
        return g[0], pred_set[0]
    if None not in (gold_set[1], pred_set[1]) and gold_set[1] != pred_set[1]:
        return None  # "y > 2" against "x > 2": math-verify's to judge
    return gold_set[0], pred_set[0]


# More values in a hedge or list than this (and than twice the gold's parts) are never the gold.
_MANY = 64


def _values_in(final: str | None, parts: tuple) -> int:
    """How many values a hedge ("2, 3, 5": its text) or a list (its parts) gives, about."""
    return len(parts) if len(parts) > 1 else (final or "").count(",") + 1


# NuminaMath-1.5's answer column holds "proof" for a proof problem and "notfound" where no answer
# was extracted: no answer to compare with (math-verify reads "proof" as the product f*o*o*p*r).
_PLACEHOLDER = re.compile(
    r"\s*\$?\s*(?:\\text\s*\{\s*)?(?:proof|not\s*found)\s*\}?\s*\$?\s*\.?\s*", re.IGNORECASE
)


# A part's label in a gold: "(a) 12 (b) 13", "(a) $12$; (b) $13$".
_GOLD_PART = re.compile(r"(?<![\w\\])\(\s*(?:[a-h]|i{1,3}|iv)\s*\)")
# What parts a gold's values: a comma or "and", at no depth of brackets.
_GOLD_JOIN = re.compile(r"\s*(?:,|\\text\s*\{\s*and\s*\}|\band\b)\s*")


def _gold_parts(gold: str, listed: bool = False) -> list[str] | None:
    """The values of a gold of labelled parts ("(a) 12 (b) 13"), in order; with `listed`, of a
    gold listed bare as well ("12, 13", "12 and 13"). None for any other gold."""
    t = (last_boxed(gold) or gold).strip().strip("$").strip()
    labels = list(_GOLD_PART.finditer(t))
    if len(labels) > 1 and labels[0].start() == 0:
        ends = [m.start() for m in labels[1:]] + [len(t)]
        values = [t[m.end() : end] for m, end in zip(labels, ends)]
        values = [re.sub(r"^[\s$,;]+|(?:[\s$,;.]|\band\b)+$", "", v) for v in values]
        return values if all(values) else None
    if not listed or _GROUPED.fullmatch(t) or re.match(r"\\?[(\[{]|\\left", t):
        return None  # a number's digit groups; a tuple, an interval or a set: not a list
    values, depth, start = [], 0, 0
    for m in re.finditer(r"[(\[{]|[)\]}]|" + _GOLD_JOIN.pattern, t):
        ch = m.group(0)
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0:
            values.append(t[start : m.start()])
            start = m.end()
    values.append(t[start:])
    values = [v.strip() for v in values]
    return values if len(values) > 1 and all(values) else None


# A gold that names its values: "a=4, b=3", "x = 2, y = -1".
_NAMED_GOLD = re.compile(r"(?<![A-Za-z\\])[A-Za-z](?:_\{?\w+\}?)?\s*=(?!=)")
_BRACKETED_LIST = re.compile(r"(?:\\left\s*)?\\?[(\[{].*,.*\\?[)\]}]", re.DOTALL)


def _several(gold: str) -> bool:
    """Whether a gold is several values: named ("a=4, b=3"), in brackets ("(3, 4)") or listed."""
    t = (last_boxed(gold) or gold).strip().strip("$").strip()
    return (
        len(_NAMED_GOLD.findall(t)) > 1
        or _BRACKETED_LIST.fullmatch(t) is not None
        or _gold_parts(t, listed=True) is not None
    )


def verify_math(
    answer: str,
    gold: str | None,
    timeout: int = 5,
    problem: str | None = None,
    options: int = 5,
) -> str:
    """math-verify of the final answer against the gold (gold first: the order matters).

    The final answer is an explicit statement after the last box ("The final answer is $12$"),
    else the last box, else the whole answer. Against a gold of several parts (a set, tuple or
    list), boxes written together ("\\boxed{1}, \\boxed{2} and \\boxed{3}") are one answer:
    unordered against a set or a bare list, in order against a tuple or list in brackets, and
    against "(3,5)" (math-verify's open interval) only as a pair (`_a_pair`: `problem`, the
    problem's text where known, says whether one is asked). A stated choice is read among
    `options` letters (A-E at least; MMLU-Pro's ten: A-J)."""
    if gold is None or not str(gold).strip() or _PLACEHOLDER.fullmatch(str(gold)):
        return UNVERIFIABLE
    answer = answer or ""
    upto = _upto(options, gold)
    # "a = 3, b = 4, so a + b = 7" against "a=4, b=3" or "(3, 4)": the values stated, not the
    # one derived (judged 7, a right answer was wrong)
    final, parts, hedged, names = _final_answer(answer, upto, derive=not _several(str(gold)))
    if final is None and not answer.strip():
        return NO_ANSWER
    if final is None:  # the whole reply is read: what it ends with is to be its answer
        before = _before_checks(answer)
        if before is None:  # "Thus f(2) = 4, not 2.": "Thus f(2) = 4" (no value given alone)
            before = _aside_cut(answer)
        if before is not None:  # "So x = 2. Substituting x = 2 ...: 4 - 4 = 0.": "So x = 2."
            answer = before
            final, parts, hedged, names = _final_answer(
                answer, upto, derive=not _several(str(gold))
            )
            if final is None and not answer.strip():
                return NO_ANSWER
        if final is None and _unasserted(answer):
            return NO_ANSWER
    labelled = len(parts) > 1 and not hedged and all(_labelled(n) for n in names)
    golds = _gold_parts(str(gold), listed=labelled)
    if golds is not None:
        if len(parts) > 1 and not hedged and len(golds) == len(parts):
            # "(a) 12 and (b) 13" against "12, 13" or "(a) 12 (b) 13": each part in order
            got = [
                _final_verdict(g, p, (), False, False, timeout, upto) for g, p in zip(golds, parts)
            ]
            if UNVERIFIABLE in got:
                return UNVERIFIABLE
            return CORRECT if all(v == CORRECT for v in got) else WRONG
        if not labelled:  # a gold of labelled parts, otherwise read as the list of its values
            gold = ", ".join(golds)
    pair = not labelled and len(parts) > 1 and _a_pair(names, problem)
    if pair and None not in names and len(_NAMED_GOLD.findall(str(gold))) > 1:
        # "a = 3, b = 4" (or "a = \boxed{3}, b = \boxed{4}") against "a=4, b=3": the values
        # with their names (as "$a = 3$, $b = 4$" is read); bare, {3, 4} was the gold's {4, 3}
        parts = [f"{name} = {value}" for name, value in zip(names, parts)]
        final = ", ".join(parts)
    if final:  # the verdict depends on the answer only through its final answer
        verdict = _final_verdict(str(gold), final, tuple(parts), hedged, pair, timeout, upto)
        kept = _unit_kept(answer, final) if verdict != CORRECT and len(parts) == 1 else None
        if kept is not None and not hedged:
            # "\boxed{4m/s}" against "\frac{4m}{s}", "\boxed{4 g/L}" against "\frac{4g}{L}":
            # the letters are the gold's variables, the box as written is its value (read as 4
            # with a unit dropped, a right answer was wrong)
            if _final_verdict(str(gold), kept, (kept,), False, pair, timeout, upto) == CORRECT:
                return CORRECT
        if verdict != CORRECT and not hedged and len(parts) <= 1 and not _boxes(answer):
            # "The time taken is 2 hours or 120 minutes." against 120: the value restated is
            # the one read (`_restated_ending`), as right in either form
            restated = _restated_ending(answer)
            if restated is not None and not restated[1] and restated[0][0] == final:
                for other in restated[0][1:]:
                    if _final_verdict(str(gold), other, (), False, pair, timeout, upto) == CORRECT:
                        return CORRECT
        return verdict
    return _verdict(str(gold), final, tuple(parts), hedged, pair, timeout, answer, upto)


def _unit_kept(answer: str, final: str) -> str | None:
    """The last box as written where `final` is its value with a unit dropped
    (`_unit_dropped`: "\\boxed{4m/s}" read as 4), else None."""
    boxes = _boxes(answer)
    if not boxes:
        return None
    written = boxes[-1][2].strip()
    if written == final.strip() or _unit_dropped(written) != final:
        return None
    return written


# A prompt's n samples mostly state one of a few final answers, verified against one gold:
# `filter --verify math` and `eval` judge each (gold, final answer) once. Keyed by the gold's
# text (lru_cache would take the gold 1 for True, and 1.0 for 1).
@lru_cache(maxsize=65536)
def _final_verdict(
    gold: str, final: str, parts: tuple, hedged: bool, pair: bool, timeout: int, upto: str = "E"
) -> str:
    return _verdict(gold, final, parts, hedged, pair, timeout, "", upto)


_PERCENT = re.compile(r"([-+]?\d+(?:\.\d+)?)[ \t]*\\?%")


def _verdict(
    gold: str,
    final: str | None,
    parts: tuple,
    hedged: bool,
    pair: bool,
    timeout: int,
    answer: str,
    upto: str = "E",
) -> str:
    """verify_math past extraction. `answer` is read only when `final` is None or empty."""
    written = _digit_groups(_constants(gold))
    gold = _unit_dropped(written, gold=True)  # "3\\sqrt{2} m/s", as an answer's is read
    verdict = _verdict_of(gold, final, parts, hedged, pair, timeout, answer, upto)
    if verdict != CORRECT and gold != written:
        # The gold as written, as it was read before units were dropped: an answer that keeps
        # its unit ("$4 m/s$", "\\boxed{4\\frac{m}{s}}", which no pattern drops) was wrong
        # against "4 m/s" read as 4, and right before.
        if _verdict_of(written, final, parts, hedged, pair, timeout, answer, upto) == CORRECT:
            return CORRECT
    return verdict


def _verdict_of(
    gold: str,
    final: str | None,
    parts: tuple,
    hedged: bool,
    pair: bool,
    timeout: int,
    answer: str,
    upto: str = "E",
) -> str:
    """`_verdict` against `gold` as it is given."""
    if final is not None:
        final = _digit_groups(final)
        # A choice letter against a choice letter, when one of them carries the option's text.
        g_label = _choice_label(last_boxed(gold) or gold, upto)
        p_label = _choice_label(final, upto)
        if g_label and p_label and (g_label[1] or p_label[1]):
            return CORRECT if g_label[0] == p_label[0] else WRONG
        if g_label and g_label[1]:  # "\\boxed{12}" against "\\textbf{(B)}\\ 12": the value
            gold = g_label[1]
        elif p_label and p_label[1] and not g_label:
            final = p_label[1]
    # Fast path, same verdict math-verify gives: both sides plain numbers.
    g_num = _plain_number(last_boxed(gold) or gold)
    p_num = _plain_number(final) if final is not None else None
    if g_num is not None and p_num is not None:
        return CORRECT if g_num == p_num else WRONG
    # A percent against a number: right as N and as N/100, math-verify's rule, which misses a
    # decimal's ("2.5\\%" against 2.5 was wrong, "25\\%" against 25 right)
    percent = _PERCENT.fullmatch(final.strip()) if final is not None else None
    if g_num is not None and percent is not None:
        n = Fraction(percent.group(1))
        return CORRECT if g_num in (n, n / 100) else WRONG
    from math_verify import verify

    # A gold in math delimiters or boxed is parsed as it is; any other (an escaped "\\$12" is a
    # dollar sign, not a delimiter) as the LaTeX inside "$...$".
    delimited = re.search(r"(?<!\\)\$", gold) or "\\boxed" in gold
    gold_text = gold if delimited else f"${gold}$"
    g = _parse(gold_text, timeout)
    if not any(not isinstance(x, str) for x in g):
        # Nothing parsed (math-verify's fallback hands back the raw string, which would then
        # "match" the same string): an unparseable gold never makes a trace correct.
        return UNVERIFIABLE
    if (hedged or len(parts) > 1) and _values_in(final, parts) > max(_MANY, 2 * _parts(g)):
        # a looping reply's hedge or list of thousands, never the gold's few: parsed whole, it
        # took math-verify's whole timeout, and was no_answer
        return WRONG
    if hedged:
        import sympy

        # Values offered as alternatives are right only against the set of them ("2 or 3" for
        # x^2 - 5x + 6 = 0); math-verify equates a set of two with the interval (2, 3), and
        # they are never a point's or tuple's coordinates.
        if not isinstance(g[0], sympy.FiniteSet):
            return WRONG
    elif len(parts) > 1 and _parts(g) > 1:
        import sympy

        # in order against a tuple; against "(3,5)", which math-verify reads as an open interval,
        # only as a pair's coordinates (boxes of a pair were judged on their last one: wrong),
        # else the last box, as before (the roots 3 and 5 joined would be the set math-verify
        # equates with the interval: a wrong answer to the inequality accepted)
        if isinstance(g[0], sympy.Interval):
            if pair:
                final = f"({', '.join(_ungrouped(p) for p in parts)})"
            else:  # a stated list "3 and 5" as its last value, as boxes (the set is the interval)
                final = _digit_groups(parts[-1])
        else:
            joined = ", ".join(_ungrouped(p) for p in parts)  # "1,000" and "2,000": two
            final = f"({joined})" if isinstance(g[0], sympy.Tuple) else joined
    if final is not None:
        pred_text = f"\\boxed{{{_constants(final)}}}"
    else:
        text = _constants(answer)
        pred_text = f"${text.strip()}$" if _bare_math(text) else text
    p = _parse(pred_text, timeout)
    if not p:
        return NO_ANSWER
    sets = _interval_sets(gold, g, final, p, timeout)
    if sets is not None:  # inequalities against an interval, as the sets they are
        try:
            return CORRECT if verify(sets[0], sets[1], timeout_seconds=timeout) else WRONG
        except Exception:  # noqa: BLE001 - sympy can raise anything on odd input
            return UNVERIFIABLE
    if _still_to_compute(p) and _is_number(g) and not _same_text(final or answer, gold):
        return NO_ANSWER
    try:
        ok = verify(list(g), list(p), timeout_seconds=timeout)
    except Exception:  # noqa: BLE001 - sympy can raise anything on odd input
        return UNVERIFIABLE
    return CORRECT if ok else WRONG


def math_answer_key(answer: str, timeout: int = 5, options: int = 5) -> str | None:
    """A canonical form of the final answer (as verify_math reads it), for majority voting."""
    upto = _upto(options)
    boxed, parts, hedged, names = _final_answer(answer or "", upto)
    if boxed is None and answer and answer.strip():  # as verify_math reads the whole reply
        before = _before_checks(answer)
        if before is None:  # "Thus f(2) = 4, not 2.": "Thus f(2) = 4" (no value given alone)
            before = _aside_cut(answer)
        if before is not None:
            answer = before
            boxed, parts, hedged, names = _final_answer(answer, upto)
        if boxed is None and (not answer.strip() or _unasserted(answer)):
            return None
    if boxed is not None and (hedged or len(parts) > 1) and _values_in(boxed, parts) > _MANY:
        return re.sub(r"\s+", "", boxed)  # a looping list: parsed, it took the whole timeout
    if len(parts) > 1 and not hedged and None not in names and len(set(names)) == len(names):
        # "a = 3, b = 4" and "b = 4, a = 3": one vote, its values by name ("a = 4, b = 3",
        # voted as the set {3, 4}, was the same vote); "(a) 12 and (b) 13" by part
        named = sorted(zip(names, parts))
        if not any(_labelled(n) for n in names):  # the system, as "\\boxed{a=3, b=4}" votes
            system = _parse("$" + ", ".join(f"{n} = {p}" for n, p in named) + "$", timeout)
            if system and not isinstance(system[0], str):
                return str(_vote_form(system[0]))
        keys = [math_answer_key(f"\\boxed{{{p}}}", timeout, options) for _, p in named]
        return ", ".join(f"{n}={k if k is not None else p}" for (n, p), k in zip(named, keys))
    boxed = _digit_groups(_constants(boxed)) if boxed is not None else None
    label = _choice_label(boxed, upto) if boxed is not None else None
    if label:  # "\\boxed{B}" and "\\boxed{(B) 12}" are one vote
        return label[0]
    text = boxed if boxed is not None else answer
    if not text or not text.strip():
        return None
    num = _plain_number(text)
    if num is not None:
        return str(num)
    # "x < -1 or x > 2" and "(-\\infty,-1)\\cup(2,\\infty)", one answer to verify_math: one vote
    conditions = _condition_set(boxed, timeout) if boxed is not None else None
    if conditions is not None:
        return str(conditions[0])
    if boxed is not None:
        parsed = _parse(f"\\boxed{{{boxed}}}", timeout)
    else:  # as verify_math reads a bare expression: "a=3, b=4" the system, not its last value
        parsed = _parse(f"${text.strip()}$" if _bare_math(text) else text, timeout)
    if parsed and _still_to_compute(parsed):
        return None  # "61 + 48" is the question restated, not a vote for 109
    return str(_vote_form(parsed[0])) if parsed else normalize_text(text)


def _vote_form(expr: Any) -> Any:
    """One form per answer, as verify_math judges them equal: "x = 2" is 2 (math-verify compares
    the value of an equation whose left side is the variable), 50\\% is 1/2, each element of a
    set alike (the roots x = 1, x = 2; a system's solution x = 2, y = 3 keeps its variables)."""
    import sympy

    try:
        if isinstance(expr, sympy.Eq) and expr.lhs.is_Symbol:
            expr = expr.rhs
        if isinstance(expr, sympy.FiniteSet):
            sides = {a.lhs for a in expr.args if isinstance(a, sympy.Eq)}
            if len(sides) > 1:  # a system's solution {x = 2, y = 3}: not the set {2, 3}
                return expr
            return sympy.FiniteSet(*(_vote_form(a) for a in expr.args))
        return expr.doit() if isinstance(expr, sympy.Basic) else expr
    except Exception:  # noqa: BLE001 - sympy can raise anything on odd input
        return expr


# ----------------------------------------------------------------------------- choice, exact

# A box that opens with the letter (\boxed{B}, \boxed{\text{B}}, \boxed{\textbf{(B)}},
# \boxed{(B)\ 42}); "answer is/:" then a capital letter, or any letter in parentheses ("the
# answer is a multiple of 3" is not choice A); a line that is only the letter.
_CHOICE_PATTERNS = [
    re.compile(
        r"\\boxed\s*\{\s*(?:\\(?:text|textbf|mathrm|mathbf)\s*\{\s*)?\(?([A-Ea-e])\)?"
        r"(?![A-Za-z0-9])"
    ),
    # (markdown's "**Answer:** B", "Answer: $\\textbf{(C)}$", and C-Eval's "答案是C", "答案：C",
    # R1's and Qwen's "故选C", "所以选C")
    re.compile(
        r"(?:(?i:answer|答案)(?:[*\s]*(?i:is|是|为|选))?|(?:故|所以|因此|因而|综上|应|应该|本题)\s*选择?)"
        r"[*:：\s]*(?:"
        # a value, then the option it is: "The answer is 5 (option B).", "Answer: $2.5$ (B)"
        + _VALUE_BEFORE_OPTION
        + r"[ \t]*\(\s*(?:(?i:option|choice)\s*\(?([A-Ea-e])\)?|([A-E]))\s*\)|"
        r"(?:\$\s*)?(?:\\(?:text|textbf|mathrm|mathbf)\s*\{\s*)?"
        r"(?:\(\s*([A-Ea-e])\s*\)|(?:(?<!\*)\*+)?(?!I" + _PRONOUN_AFTER + r")\(?([A-E])\)?\**))"
        r"(?![A-Za-z])"
    ),
    re.compile(r"^[ \t]*\(?([A-E])\)?[.):]?[ \t]*$", re.MULTILINE),
    # "A is not the answer. B is.", "(A) isn't correct, but (B) is.": the letter said to be what
    # the one before it is not, ending its line (no answer before: no letter stated)
    re.compile(
        r"(?<![A-Za-z])(?:(?i:option|choice)\s*)?\(?[A-E]\)?[ \t]+(?:is[ \t]+not|isn't)[ \t]+"
        r"(?:(?:the|a)[ \t]+)?(?:(?:correct|right|final)[ \t]+)?(?:answer|option|choice|correct|right)"
        r"[ \t]*(?:[.;!][ \t*]*|,?[ \t]+(?i:but)[ \t]+)(?:(?i:option|choice)\s*)?\(?([A-E])\)?"
        r"[ \t]+is[ \t*]*[.!]?[ \t*]*$",
        re.MULTILINE,
    ),
]


_GOLD_LETTER = re.compile(r"\s*\(?[A-Ea-e]\)?\s*")


def _choice_found(answer: str, upto: str = "E") -> re.Match | None:
    for pat in (_ranged(p, upto) for p in _CHOICE_PATTERNS):
        # "Suppose the answer is B. Then x < 0.": no letter stated
        found = [m for m in pat.finditer(answer or "") if not _supposed(answer, m.start())]
        if found:
            return found[-1]
    return None


def extract_choice(answer: str, options: int = 5) -> str | None:
    m = _choice_found(answer, _upto(options))
    return next(g for g in m.groups() if g).upper() if m else None


def _choice_read(answer: str, upto: str = "E") -> list[str] | None:
    """The letters verify_choice reads: the stated one, then those a hedge offers too ("The
    answer is B. But C also works.": B, C); None where no letter is stated."""
    m = _choice_found(answer, upto)
    if m is None:
        return None
    got = next(g for g in m.groups() if g).upper()
    return [got, *_hedged_choices(answer[m.end() :], got, upto)]


def choice_key(answer: str, options: int = 5) -> str | None:
    """eval's maj@k vote under --verify choice, the answer verify_choice judges: the letter, or
    a hedge's letters together ("B, C"), as math_answer_key votes a hedge as its set; never
    the stated letter alone (a hedge judged wrong then carried that letter's vote)."""
    letters = _choice_read(answer, _upto(options))
    return ", ".join(letters) if letters else None


def verify_choice(answer: str, gold: str | None, options: int = 5) -> str:
    """The letter a reply states against the gold letter, among `options` letters (A-E at least;
    MMLU-Pro's ten: A-J): a hedge ("B. But C also works.") is wrong."""
    upto = _upto(options, gold)
    if gold is None or not _ranged(_GOLD_LETTER, upto).fullmatch(str(gold)):
        return UNVERIFIABLE
    letters = _choice_read(answer, upto)
    if letters is None:
        return NO_ANSWER
    if len(letters) > 1:  # "The answer is B. But C also works."
        return WRONG
    return CORRECT if letters[0] == str(gold).strip(" ()").upper() else WRONG


def verify_exact(answer: str, gold: str | None) -> str:
    # A gold of nothing ("", "**") would match any answer the normalisation empties (".", "$$").
    want = normalize_text(str(gold)) if gold is not None else ""
    if not want:
        return UNVERIFIABLE
    boxed = last_boxed(answer or "")
    text = boxed if boxed is not None else answer
    got = normalize_text(text) if text else ""
    if not got:
        return NO_ANSWER
    return CORRECT if got == want else WRONG


# ----------------------------------------------------------------------------- countdown

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


def _countdown_value(node: ast.AST, used: list[int]) -> Fraction:
    """Evaluate + - * / over integer literals; anything else is refused (never `eval`)."""
    if isinstance(node, ast.Expression):
        return _countdown_value(node.body, used)
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int)
        and not isinstance(node.value, bool)
    ):
        used.append(node.value)
        return Fraction(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _countdown_value(node.left, used), _countdown_value(node.right, used)
        if isinstance(node.op, ast.Div) and right == 0:
            raise ZeroDivisionError
        return _BINOPS[type(node.op)](left, right)
    raise ValueError(f"not allowed: {type(node).__name__}")


def countdown_expression(answer: str) -> str | None:
    """The expression a countdown answer gives: its last <answer> tag, else its last box, with
    ×/÷ (and \\times/\\div) as * and /, cut before any "="; None without either."""
    tags = _ANSWER_TAG.findall(answer or "")
    expr = tags[-1] if tags else last_boxed(answer or "")
    if expr is None:
        return None
    expr = expr.replace("×", "*").replace("÷", "/").replace("\\times", "*").replace("\\div", "/")
    return expr.split("=")[0].strip()


def _integer(x: Any) -> int | None:
    """An integer given as an int, an integral float or its digits; None for anything else."""
    try:
        f = Fraction(str(x).strip()) if not isinstance(x, bool) else None
    except (ValueError, ZeroDivisionError):
        return None
    return int(f) if f is not None and f.denominator == 1 else None


def verify_countdown(answer: str, numbers: list[int] | None, target: Any) -> str:
    if not isinstance(numbers, (list, tuple)) or not numbers or target is None:
        return UNVERIFIABLE
    # int() truncated 2.5 to 2 (a trace using 2 matched it); such a task is no countdown one.
    nums, goal = [_integer(x) for x in numbers], _integer(target)
    if goal is None or any(x is None for x in nums):
        return UNVERIFIABLE
    expr = countdown_expression(answer)
    if expr is None:
        return NO_ANSWER
    if len(expr) > 200:
        return WRONG
    try:
        used: list[int] = []
        value = _countdown_value(ast.parse(expr, mode="eval"), used)
    except (SyntaxError, ValueError, ZeroDivisionError, RecursionError):
        return WRONG
    if sorted(used) != sorted(nums):
        return WRONG
    return CORRECT if value == goal else WRONG


# ----------------------------------------------------------------------------- one entry point


def problem_text(rec: dict[str, Any]) -> str | None:
    """The text of a record's user turns (its problem), None where it has none: what verify_math
    reads as `problem` for filter, eval, select and train --reward alike."""
    msgs = rec.get("messages")
    if not isinstance(msgs, list):
        return None
    texts = []
    for m in msgs:
        if not isinstance(m, dict) or m.get("role") != "user":
            continue
        content = m.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [
                p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
            ]
    return "\n".join(texts) or None


def judge(
    rec: dict[str, Any],
    mode: str,
    timeout: int = 5,
    code_memory_mb: int = 512,
    sandbox: str | None = None,
) -> tuple[str | None, str | None]:
    """A trace record's verdict under `mode` -> (verdict, detail). For `majority` the verdict
    is decided later across a prompt's samples and the detail is the answer's vote key.
    `sandbox`: the isolation code runs under (sandbox.require_isolation; None: the best here)."""
    answer, gold, meta = rec.get("answer") or "", rec.get("gold"), rec.get("meta") or {}
    if mode == "none":
        return None, None
    if mode == "math":
        options = options_of(rec)
        return verify_math(answer, gold, timeout, problem=problem_text(rec), options=options), None
    if mode == "choice":
        return verify_choice(answer, gold, options_of(rec)), None
    if mode == "exact":
        return verify_exact(answer, gold), None
    if mode == "countdown":
        # `numbers` (distill's countdown set), `nums` (Jiayi-Pan/Countdown-Tasks-3to4, TinyZero)
        numbers = meta.get("numbers", meta.get("nums"))
        return verify_countdown(answer, numbers, meta.get("target", gold)), None
    if mode == "code":
        tests = code_tests(meta)
        return verify_code(answer, tests, timeout=timeout, mem_mb=code_memory_mb, isolation=sandbox)
    if mode == "majority":
        return None, math_answer_key(answer, timeout, options_of(rec))
    raise ValueError(f"unknown verify mode {mode}")
