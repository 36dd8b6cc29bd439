"""Final-answer extraction shared by the answer verifiers (gsm8k, math, string_match); numbers are read by
`rewards.numbers`.

An answer offered with alternatives is no answer: "17 or 18", "17, 18", "17-18", "17 to 18", "17 ± 1",
"17 (or maybe 18)", "17, though it could be 18", "17, but 18 is also possible", "17 ∨ 18", `\\boxed{17}, \\boxed{18}`,
`$17$ or $18$`, `<answer>Paris</answer> or Lyon`, a ranking of candidates ("17; second guess 18", "Runner-up: 18"),
two values weighed by their probability ("17 (70%); 18 (30%)"), a value with a margin or a bound naming another ("17,
within one", "17 (at most 18)") and two values set equal ("18 = 17"). A verifier that reads one of them (the first, the
last) pays a response that never committed; `offers_alternatives` is the one test of the text between two values that
every verifier applies: to numbers in a clause, to answer markers side by side, and to a value just outside the final
marker (`offered_beside`). It is written for the class, by its grammar (disjunctions, doubt, modal "be",
conditions, ranges, ranks, symbols), not as a list of the phrasings seen. Answers stated in two formats side by side
("The answer is 17. #### 18") are no answer either: `final_statements` finds them for every reader, `contradicted`
compares them with the reader's own idea of "the same value"."""

from __future__ import annotations

import re
import unicodedata
from fractions import Fraction
from typing import NamedTuple

from rewards.numbers import ascii_signs, read_number, values_in
from rewards.text_utils import revealed_letters

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*")
_ANSWER_TAGS = re.compile(r"<(/?)answer>", re.I)


class Span(NamedTuple):
    """An answer marker in the response: where it starts and ends, and what it holds."""

    start: int
    end: int
    content: str


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (or `\\fbox{...}`), nested braces included; `\\boxed 5` works too."""
    boxes = last_two_boxed(text)
    return boxes[-1].content if boxes else None


def last_two_boxed(text: str) -> list[Span]:
    """The last box and the one before it (when both close), in order: at most two parses, so linear in the text.
    Empty when the last box does not close (a truncated answer is no answer)."""
    matches = list(_BOXED.finditer(text))
    spans = []
    for match in matches[-2:]:
        span = _box(text, match)
        if span is not None:
            spans.append(span)
        elif match is matches[-1]:
            return []
    return spans


def last_two_tagged(response: str) -> list[Span]:
    """The last `<answer>...</answer>` and the one before it. The last's content is what
    `re.findall(r"<answer>(.*?)</answer>", response, re.S | re.I)[-1]` gives, in linear time (that pattern rescans
    the rest of the text from every unclosed `<answer>`): an opening tag pairs with the next closing one."""
    spans, opening = [], None
    for tag in _ANSWER_TAGS.finditer(response):
        if opening is None and not tag.group(1):
            opening = tag
        elif opening is not None and tag.group(1):
            spans, opening = (
                [*spans[-1:], Span(opening.start(), tag.end(), response[opening.end() : tag.start()])],
                None,
            )
    return spans


def _box(text: str, match: re.Match) -> Span | None:
    start = match.end()
    if start >= len(text):
        return None
    if text[start] != "{":
        token = re.match(r"[^\s$]+", text[start:])
        return Span(match.start(), start + token.end(), token.group(0)) if token else None
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return Span(match.start(), index + 1, text[start + 1 : index].strip())
    return None  # unbalanced


# What stands between two values a response offers together, judged on the text as a reader sees it (invisible
# characters dropped, look-alike letters as Latin) with LaTeX's commands as the symbols they print and `\text{...}`
# as its words:
# - nothing but layout and symbols, any symbol but "=" and ":" (an equation, a label or a ratio): "17, 18", "17-18",
#   "17 ± 1", "17 ∨ 18", "17 → 18", "17 … 18", `\boxed{17}\quad\boxed{18}`;
# - or a few words that offer a choice: a disjunction anywhere among them ("17 apples or 18", "17, alternatively
#   18"); just before the second value a word of doubt ("17 (possibly 18)") or a modal "be" ("17, though it could be
#   18"); a condition that closes before the second value or names it as the answer ("17; if rounding, 18", "17,
#   unless it is 18"); a range ("17 to 18", "17, though up to 18"; "to" only alone: "17, due to 3 broken");
# - or the second value doubted by its own words (`_DOUBTED`: "17, but 18 is also possible").
# What makes the second value part of the answer's account instead: words that give a reason or relate the values
# ("since", "because", "of", "than", "and": "18, since 3 * 6 = 18 and 2 were left"; a disjunction among them still
# offers a choice, a condition does not: "17, because if she had 20 ..."), a condition that holds the value ("18 if
# she sells all 9 eggs"), a bracket that opens on a calculation ("18 (9 eggs × $2)").
# A choice is offered in other languages too ("17 ou 18", "17 oder 18", "17 或 18", "17, vielleicht 18"): the words for
# "or" and "maybe" of the languages most written beside English, as `revealed_letters` shows them (a Cyrillic "о" is
# read as a Latin "o"). Left out: words that are English words too (Dutch "of").
_OR_ELSEWHERE = (
    "ou o ó u ofwel oder bzw resp beziehungsweise oppure ovvero eller tai sau lub albo nebo alebo vagy veya yahut"
    " aut vel atau au ili või vai arba edo hoặc или либо або чи ή או أو یا या अथवा বা அல்லது లేదా หรือ 或 或者 还是 還是"
    " または もしくは か 또는 아니면"
).split()
_MAYBE_ELSEWHERE = (
    "peut-être vielleicht eventuell quizás quizá acaso talvez forse magari misschien kanske kanskje måske ehkä"
    " mungkin labda možda belki może možná talán poate может возможно можливо ίσως אולי ربما شاید शायद হয়তো ஒருவேளை"
    " อาจจะ 也许 也許 或许 或許 大概 たぶん 多分 아마 아마도"
).split()
_OR_ELSEWHERE_SHOWN = sorted({revealed_letters(word) for word in _OR_ELSEWHERE})
# Also words that call two different values one ("17, alias 18", "17 (equivalently 18)"): no value is two.
_DISJUNCTIVE = frozenset(
    "or either alternatively alternative alt otherwise else vs versus alias aka equivalently respectively".split()
) | set(_OR_ELSEWHERE_SHOWN)
_DOUBT = "|".join(
    # the epistemic adverbs of English: each leaves the value it stands before a candidate ("17, arguably 18")
    ["maybe", "perhaps", "possibly", "probably", "likely", "presumably", "conceivably", "arguably", "plausibly"]
    + ["supposedly", "allegedly", "apparently", "seemingly", "potentially", "hypothetically", "theoretically"]
    + ["ostensibly", "reportedly", "purportedly", "feasibly", "perchance"]
    # and the speaker's own doubt, said of the answer: "17 (not sure, 18)", "17 (unsure between 17 and 18)"
    + [r"not\s+(?:sure|certain|confident)", "unsure", "uncertain", "undecided", "doubtful", "torn"]
    + [re.escape(revealed_letters(word)) for word in _MAYBE_ELSEWHERE]
)
_DOUBT_BEFORE = re.compile(
    rf"(?<![A-Za-z])(?:(?:{_DOUBT})(?:\s+(?:even|also|just|around|about))?"
    # or another's view of the answer: "17 (some would say 18)", "17; others argue 18", "17, someone could claim 18"
    r"|(?:some|others|many|people|someone|critics)\s+(?:[A-Za-z]+\s+){0,2}"
    r"(?:say|argue|claim|think|believe|suggest|insist|contend|prefer|put)s?"
    # or the second value let in beside the first: "17; I'd also accept 18", "17 is the answer; so is 18", "17 (torn
    # with 18)"
    r"|(?:also|equally|would|'d)\s+(?:also\s+)?accept|(?:so|as)\s+(?:is|was|does|would)|torn\s+(?:with|between))\W*$",
    re.I,
)
_CONDITIONAL = frozenset("if unless depending depends whether assuming".split())
_FALLBACK_BEFORE = re.compile(
    r"(?<![A-Za-z])(?:if\s+not(?:,?\s+then)?|failing\s+that|or\s+else|else|otherwise|then\s+again"
    r"|on\s+the\s+other\s+hand)\W*$",
    re.I,
)
# A candidate ranked behind the answer is another answer offered (class 31): "second guess 18", "my second answer is
# 18", "as a backup, 18", "Runner-up: 18", "(Plan B: 18)", "18 would be my next guess". A ranking of candidates
# commits to none of them. The ranks that are nouns of their own (a backup, a runner-up) need no candidate noun after
# them; the others do ("the other 18 apples" ranks nothing).
_RANK = (
    r"(?:second|2nd|third|3rd|next|other|another|alternate|alternative|secondary|lesser|less\s+likely"
    r"|backup|back-up|fallback|runner[\s-]*up)"
)
_RANK_NOUN = r"(?:backup|back-up|fallback|runner[\s-]*up|plan\s+b|(?:second|next)[\s-]+best)"
_CANDIDATE_NOUN = r"(?:answer|guess|choice|option|candidate|pick|bet|estimate|possibility|solution)s?"
_RANKED_BEFORE = re.compile(
    rf"(?<![A-Za-z])(?:{_RANK}(?:[\s-]+(?:best|most\s+likely|likeliest))?\s+{_CANDIDATE_NOUN}|{_RANK_NOUN})"
    r"(?:\s+(?:is|would\s+be|could\s+be|being|of|at))?\W*$"
    # or the next candidate proposed: "17. Also consider 18", "17; also try 18"
    r"|(?<![A-Za-z])also\s+(?:consider|try)\W*$",
    re.I,
)
# A rank written as an ordinal is read as a value ("2nd" is 2): of two values side by side, one is then the rank of
# a candidate after the first ("17. 2nd guess: 18", "2nd guess: 18"); the first rank is the answer's own ("1st guess").
_ORDINAL_RANK = re.compile(
    rf"(?:st|nd|rd|th)[\s-]+(?:(?:best|most\s+likely|likeliest)\s+)?{_CANDIDATE_NOUN}(?![A-Za-z])", re.I
)
_LATER_ORDINAL = re.compile(r"(?:[2-9]|\d\d+)$")  # the digits of a rank after the first: 2nd, 3rd, 11th
# A label that names a choice: "alt: 18", "or possibly: 18", "alternative answer: 18", "another possible answer: 18",
# a ranked one ("Runner-up: 18", "Plan B: 18", "Next best: 18", "Fallback: 18"), and a condition's outcome after its
# colon, "if rounding up: 18".
_CHOICE_LABEL = re.compile(
    r"(?<![A-Za-z])(?:(?:alt|alternatively|alternative|alternate|another|other|second|backup|or|else|otherwise)"
    rf"(?:\s+[A-Za-z]+){{0,2}}|{_RANK_NOUN}(?:\s+[A-Za-z]+)?|{_RANK}\s+{_CANDIDATE_NOUN}"
    r"|(?:if|unless|assuming)(?![A-Za-z])[^:\n]{0,40})[\s\"'*_]*[:=]",  # "alt: 18", '"alternative": 18', "alt=18"
    re.I,
)
_RANGE = frozenset("to through thru till until".split())
_RANGE_END = re.compile(r"(?<![A-Za-z])(?:up\s+to|through|thru|till|until)\W*$", re.I)  # bare "to" only alone: "due to"
_REASONS = frozenset(
    "because since as given from so thus hence therefore which who that where when after before by per each of for"
    " with than and"
    .split()
)  # fmt: skip
_MAX_GAP_WORDS = 12  # a choice is offered in a few words; a longer text between two values is an account of them
# A modal "be" names the second value as what the answer could be when its subject is the answer or nothing else
# ("it could be 18", "which may be 18", "17 but could be 18"), not another quantity ("the book would be 300 pages").
_MODAL_BE = re.compile(
    r"(?:(?<![A-Za-z])(?:it|that|this|answer|total|result|number|value|which|or|but|though|although|also)\s+|^\W*)"
    r"(?:could|might|may|would|can|should|will)(?:\s+(?:also|even|well|actually|just|really))?"
    r"\s+(?:be|equal|give|make|mean)\W*$",
    re.I,
)
_THE_ANSWER_IS = re.compile(r"(?<![A-Za-z])(?:it|that|this|answer)\s*(?:is|'s|was|would\s+be)\W*$", re.I)
_CONDITION_CLOSED = re.compile(
    r"(?<![A-Za-z])(?:if|unless|depending|depends|whether|assuming)(?![A-Za-z])[^,;)]*[,;)]", re.I
)
_LATEX_WORDS = re.compile(r"\\(?:text[a-z]*|mbox|mathrm|operatorname)\s*\{([^{}]*)\}")
_LATEX_COMMAND = re.compile(r"\\(?:[A-Za-z]+|.)")
_AND_OR = re.compile(r"\band\s*/\s*or\b", re.I)
_AKA = re.compile(r"(?<![A-Za-z])a\.\s?k\.\s?a(?![A-Za-z])\.?", re.I)
# A word: letters and the marks written on them (Devanagari's and Thai's vowel signs are marks, not letters)
_MARKS = "".join(chr(code) for code in range(0x300, 0x10000) if unicodedata.category(chr(code)) in ("Mn", "Mc"))
_WORD = re.compile(rf"[^\W\d_](?:[^\W\d_]|[{re.escape(_MARKS)}])*")
_SENTENCE_BREAK = re.compile(r"[!?]|(?<!\.)\.(?!\.)")
_BRACKET_AT_END = re.compile(r"[(\[]\s*$")
_CALCULATION = re.compile(r"[=×*÷]|\\(?:times|cdot|div)(?![A-Za-z])|\sx\s")
# The second value's own words doubt it: "also" or "too" within its first three words, a modal verb of candidacy
# ("18 might work", "18 could be right"; not "3 might be broken"), "is possible" and the like, a condition right after
# it ("18 if we round up").
_CANDIDATE = r"(?:work|do|fit|apply|hold|be\s+(?:right|correct|true|valid|it|the\s+answer|possible|acceptable))"
_DOUBTED = re.compile(
    r"\W*(?:(?:[^\W\d_]+\s+){0,2}(?:also|too|as\s+well)(?![A-Za-z])"
    rf"|(?:could|might|may|would)(?:\s+(?:also|even|well|just))?\s+{_CANDIDATE}(?![A-Za-z])"
    r"|(?:is|seems|looks)\s+(?:possible|plausible|likely|defensible|acceptable|valid)(?![A-Za-z])|\s*(?:if|unless)\b"
    rf"|(?:(?:is|would\s+be|could\s+be|being|as)\s+)?(?:(?:my|the|a|an|our)\s+)?"
    rf"(?:{_RANK}(?:[\s-]+best)?\s+{_CANDIDATE_NOUN}|{_RANK_NOUN})(?![A-Za-z]))",
    re.I,
)
_MAX_WORDS_BEFORE_A_DOUBTED_VALUE = 3
_ACCEPTABLE = r"(?:acceptable|valid|possible|plausible|correct|right|defensible)"
_ACCEPTED_TOO = re.compile(  # the second value accepted as well as the first: a second answer
    rf"\W*(?:(?:is|are|would\s+be|could\s+be|seems|looks)\s+)?(?:also|equally|too|as\s+well)\s+{_ACCEPTABLE}(?![A-Za-z])"
    rf"|\W*(?:(?:is|are|seems|looks)\s+)?{_ACCEPTABLE}\s+(?:too|as\s+well)(?![A-Za-z])",
    re.I,
)
# The second value given for another case than the first: "17 in one reading and 18 in another", "17 on one view, 18
# on the other", "17 in the first case and 18 in the second", "17 in case A, 18 in case B". Each is an answer only
# under its own reading: the response commits to neither.
_CASE_NOUN = r"(?:case|scenario|situation|reading|interpretation|view|sense|way|count|assumption|understanding)s?"
CASE_LABEL_NOUN = r"(?:case|scenario|situation|reading|interpretation)"  # what a label follows: "case A", "scenario 2"
_ONE_CASE = rf"(?:one|the\s+first|the\s+former)\s+{_CASE_NOUN}"  # "one reading", "the first case"
_OTHER_CASE = r"(?:another|the\s+other|the\s+second|the\s+latter)"
_A_CASE = re.compile(rf"(?<![A-Za-z]){_CASE_NOUN}(?![A-Za-z])", re.I)
_FOR_ANOTHER_CASE = re.compile(
    rf"\W*(?:in|under|on|for|by)\s+{_OTHER_CASE}(?![A-Za-z])"
    rf"|\W*(?:in|under|for)\s+{_CASE_NOUN}\s+[A-Za-z0-9](?![A-Za-z0-9])",
    re.I,
)
_CONCESSIVE = frozenset("but yet though although still however".split())
# Each value under its own condition, the second's contrasting the first's (class 32): "With Tom: 17. Without Tom:
# 18.", "17 if Tom counts and 18 if he does not", "Rounded down: 17. Rounded up: 18.", "Option A gives 17; option B
# gives 18.", "In theory 17, in practice 18." The response answers per case and commits to none. A contrast is a
# condition and its negation, two labels of one kind that differ, or the two ends of an opposition a condition on one
# quantity is stated by.
_OPPOSED = tuple(
    tuple(pair.split("/"))
    for pair in (
        "with/without includ/exclud inclusiv/exclusiv up/down upward/downward strict/loose theor/practic"
        " technical/practic literal/practic mathematical/realistic ideal/realistic exact/approximat lower/upper"
        " best/worst optimistic/pessimistic count/ignor narrow/broad"
    ).split()
)  # words, or stems of five letters or more that every form of the word starts with ("practic": practice, -ally)
# Oppositions a word problem tells its story by ("before lunch she had 17; after lunch 18"), which contrast two cases
# only where both values are given as the answer ("Before lunch the answer is 17; after lunch the answer is 18").
_STORY_OPPOSED = (("before", "after"), ("morning", "evening"), ("first", "last"), ("start", "end"))
_CONDITION_WORDS = frozenset("if when with including counting assuming given provided".split())
_NEGATORS = frozenset("not without excluding no n't never neither otherwise".split())
_CASE_SPLIT = re.compile(r"[.;!?/|\n]|,|(?<![A-Za-z])(?:and|but|while|whereas)(?![A-Za-z])", re.I)
_LABEL_LETTER = re.compile(r"(?<![A-Za-z'])[A-E](?![A-Za-z'])")
_CLAUSE_BREAK = re.compile(r"[.;!?\n](?:\s|$)")
_VALUE_AT_END = re.compile(r"[\w$.,%]+\s*$")
_REACH_AFTER = 80  # characters after the second value read for its own doubt or a bracket's calculation
# Two values joined by nothing but these (spacing and `$` aside): "and", "&", "also", question marks
_BARE_JOIN = re.compile(r",? ?(?:and|&|\\&)|[.!]? ?also,?|\?+", re.I)
_BARE_JOIN_CHARS = 8
_ENDS_ITS_CLAUSE = re.compile(r"[ \t$]*(?:[.!?;\n]|$)")


# The first value called wrong under a condition opened before it: "Should 17 be wrong, the answer is 18", "If 17 is
# incorrect, 18": the second value is a fallback (class 31). Called wrong outright, it is a correction ("17 is wrong;
# the answer is 18").
_CONDITION_OPENER = r"(?:if|should|in\s+case|assuming|suppose|supposing|were)"
_COPULA = r"(?:be|is|was|were|turns?\s+out(?:\s+to\s+be)?|proves?(?:\s+to\s+be)?)"
_WRONG = r"(?:wrong|incorrect|mistaken|off|false|not\s+(?:right|correct))(?![A-Za-z])"
_CALLED_WRONG = re.compile(rf"\W*{_COPULA}\s+{_WRONG}", re.I)
_CONDITION_OPENED = re.compile(
    rf"(?<![A-Za-z]){_CONDITION_OPENER}(?:\s+(?:the|my|our|answer|value|result|it|that|of))*\W*$", re.I
)
# After a value, a condition on an answer being wrong followed by another value: "17. If 17 is wrong, 18", "17. If
# that is off, 18" (the fallback seen from the first value).
_IF_WRONG = re.compile(
    rf"(?<![A-Za-z]){_CONDITION_OPENER}(?![A-Za-z])[^.;!?\n]{{0,30}}?(?:(?:{_COPULA}|'s)\s+)?{_WRONG}", re.I
)


# Two values joined by "=" alone, each a whole side of the equation: "18 = 17", "3 × 6 = 18 = 17". A false equation
# calls two values one, as "17 (equivalently 18)" does. A side with an operation or a unit glued to its value is a
# step or a conversion ("2 × 9 = 17", "0.25 = 25%", "1.2k = 1200"), and a value glued to a name is an index ("a_1 = 5",
# "x1 = 5", "3:1 = 3").
_EQUALS_ALONE = re.compile(r"[\s$]*=[\s$]*")
_OPERAND_BEFORE = re.compile(r"(?:[-+*/\u00d7\u00f7\u00b7\u22c5^%\d_]|\\[A-Za-z]+)[\s${(]*$|[A-Za-z:.,]$")
_OPERAND_AFTER = re.compile(r"[A-Za-z%]|[\s$)}]*(?:[-+*/\u00d7\u00f7\u00b7\u22c5^]|\\(?:times|cdot|div)(?![A-Za-z]))")


def equated(text: str, first: tuple[int, int], second: tuple[int, int]) -> bool:
    """The values at `text[first[0]:first[1]]` and `text[second[0]:second[1]]` are two sides of one equation, each
    the side's whole ("18 = 17"): for two different values, no answer."""
    return (
        _EQUALS_ALONE.fullmatch(text, first[1], second[0]) is not None
        and _OPERAND_BEFORE.search(text[max(0, first[0] - 12) : first[0]]) is None
        and _OPERAND_AFTER.match(text, second[1]) is None
    )


# Right before a bare second value that ends its clause, a word that calls it the first's equal: "17, i.e. 18", "17
# (viz. 18)". No value is two. A second value with more after it is the first's account ("4 eggs per day, i.e. 28 per
# week", "17, i.e. 5 + 12").
_CALLED_EQUAL_BEFORE = re.compile(
    r"(?<![A-Za-z])(?:i\.?\s?e\.?|viz\.?|namely|to\s+wit|in\s+other\s+words|cf\.?)[\s,:;$]*$", re.I
)
# A correction label before the second value, whatever follows it: "17 (typo: 18)", "<answer>Paris</answer> (sic:
# Lyon)"
_CORRECTION_LABEL_BEFORE = re.compile(r"(?<![A-Za-z])(?:read|typo|sic|erratum)\s*[:=][\s$]*$", re.I)
_BARE_VALUE_END = re.compile(r"[ \t$]*(?:[.!?;,)\]\n]|$)")


def offers_alternatives(text: str, start: int, end: int, second_end: int | None = None) -> bool:
    """`text[start:end]`, the text between two values, offers them as alternatives (the rules above). A sentence
    break counts only beside a disjunction, a modal "be" or a closed condition ("17. Or 18", "17. It could also be
    18", "17. If not, 18"): a list of further problems after an answer is not a second answer. With `second_end`,
    where the second value ends, the doubt may also follow it: "17, though 18 is also possible", "17, but 18 might
    work"; and two bare values joined by "and" or "also" alone, or a question mark, the second ending its clause, are
    both offered ("The answer is 17 and 18.", "17. Also 18.", "17? 18."; but "17 and 2 were left" is an account)."""
    confidence = _CONFIDENCE_AFTER.match(text, start)
    if confidence and confidence.end() > end:
        return False  # "17 (90% sure)": the second value is the first's probability, not another answer
    gap = revealed_letters(text[start:end])
    if _CALLED_WRONG.match(gap) and _CONDITION_OPENED.search(
        revealed_letters(_VALUE_AT_END.sub("", text[max(0, start - 40) : start]))
    ):
        return True  # "Should 17 be wrong, the answer is 18": a fallback
    words = [word.lower() for word in _WORD.findall(gap)]
    if len(words) <= _MAX_GAP_WORDS and (
        labelled_a_later_case(text[max(0, start - _REACH_AFTER) : end]) or _ranked_by_number(text, start, end)
    ):
        return True  # "(a) 17 (b) 18", "Case 1: 17. Case 2: 18", "17. 2nd guess: 18", "Answer 2: 18"
    if _CORRECTION_LABEL_BEFORE.search(gap) or (
        second_end is not None and _CALLED_EQUAL_BEFORE.search(gap) and _BARE_VALUE_END.match(text, second_end)
    ):
        return True  # "17 (typo: 18)", "17, i.e. 18": the second value as the first's correction, or called its equal
    if _offers_between(text, gap, end):
        return True
    if second_end is None:
        return False
    if _bare_join(gap) and _ENDS_ITS_CLAUSE.match(text[second_end : second_end + _REACH_AFTER]):
        return True  # "17 and 18.", "17. Also 18.", "17?? 18??": two bare values, neither an account of the other
    after = revealed_letters(text[second_end : second_end + _REACH_AFTER])
    if len(words) <= _MAX_GAP_WORDS and _FOR_ANOTHER_CASE.match(after) and _A_CASE.search(gap + after[:40]):
        return True  # "17 in one reading and 18 in another": each value under its own reading (not "for one friend")
    if len(words) <= _MAX_GAP_WORDS and _per_case(text, start, gap, after):
        return True  # "With Tom: 17. Without Tom: 18.", "17 if Tom counts and 18 if he does not"
    if len(words) > _MAX_WORDS_BEFORE_A_DOUBTED_VALUE:
        return False
    if _ACCEPTED_TOO.match(after):
        return True  # "17, with 18 also acceptable", "17. 18 is equally valid": whatever leads to it
    if any(word in _REASONS for word in words) and not any(word in _CONCESSIVE for word in words):
        return False  # "17 apples and 3 are also red"; but "17, and yet 18 is also possible"
    return _DOUBTED.match(after) is not None


# Right after a value, "or" (in any of the languages above) or a word of doubt with more of the clause after it
# opens another choice, whatever follows: "17 or XVIII", "17 or dix-huit", "17 or something else", "17, maybe more".
_OPENS_A_CHOICE = re.compile(
    r"[\s$,;:(\[]{0,4}(?:(?P<disjunction>"
    + "|".join(["or", *map(re.escape, _OR_ELSEWHERE_SHOWN)])
    + rf")|(?P<doubt>{_DOUBT}))(?![^\W\d_])",
    re.I,
)
# The same after the value's sentence ends, for a disjunction only ("17. Or something else."; "17. Perhaps you want
# the total?" may be a next question): a sentence that opens with "or" leaves the choice open as "17, or ..." does.
_SENTENCE_OPENS_A_CHOICE = re.compile(
    r"[\s$]*[.!]\s+(?P<disjunction>" + "|".join(["or", *map(re.escape, _OR_ELSEWHERE_SHOWN)]) + r")(?![^\W\d_])", re.I
)
_CLAUSE_CLOSE = re.compile(r"[!?;)\]\n]|\.(?!\d)")  # a decimal point ends nothing: "17, or 17.5"
# Right after a value, an amount the answer may be off by, or a bound on it: the value is given as a range, not as the
# answer ("17, give or take one", "17, within one", "17 (could be off by 1)", "17, unless I miscounted by one", "17,
# margin of error 2", "17 ± 1", "17 (an upper bound of 18)", "17, at most."). A few words may come first ("but it could
# be").
_AMOUNT = (
    r"(?:\d[\d.,]*|a\s+few|a\s+couple(?:\s+of)?|a\s+bit|a\s+little|some|half|one|two|three|four|five|six|seven|eight"
    r"|nine|ten)"
)
_MARGIN = re.compile(
    r"[\s$,;:(\[\u2013\u2014-]{0,6}(?:[^\W\d_]+\s+){0,4}?"
    r"(?:give\s+or\s+take|plus\s+or\s+minus|more\s+or\s+less|[\u00b1\u2213]|\+\s*/?\s*-|\\[pm]p(?![A-Za-z])"
    r"|(?:an?\s+)?(?:upper|lower)\s+bound(?![A-Za-z])"
    # the value's own bound, ending its clause: "17, at most.", "17 (max)"
    r"|(?:at\s+(?:the\s+)?(?:most|least)|max(?:imum)?|min(?:imum)?|tops)\s*(?:[.,;!?)\]\n]|$)"
    # an amount that ends its clause: "within one.", "off by at most 1)", "margin of error: 2"
    r"|(?:(?:(?:to\s+)?within|(?:off|out|wrong|miscount\w*|mistaken|err\w*|inaccurate)\s+by)\s+"
    r"(?:(?:up\s+to|at\s+most|no\s+more\s+than|less\s+than|about|around|roughly)\s+)?"
    r"|(?:margin(?:\s+of\s+error)?|error(?:\s+bars?)?|tolerance|uncertainty)(?:\s+(?:of|is))?\s*[:=]?\s*"
    rf"(?:[\u00b1]|\+/-)?\s*)\$?{_AMOUNT}\$?(?:\s*(?:%|percent|units?|points?|either\s+way|or\s+so|or\s+two))?"
    r"\s*(?:[.,;:!?)\]\n]|$))",
    re.I,
)
# Right after a value, a bound that names another value: "17 (at most 18)", "17 (at least 17, at most 18)", "17, but
# no more than 18". The answer is a range between them.
_BOUND_OPENING = re.compile(r"[\s$,;:(\[\u2013\u2014-]{0,4}(?:(?:but|and|so|or|though)\s+)?", re.I)
_BOUND = re.compile(
    r"(?<![A-Za-z])(?:at\s+(?:the\s+)?(?:most|least)|(?:no|not)\s+(?:more|less|fewer|greater|higher|lower)\s+than"
    r"|up\s+to|max(?:imum)?|min(?:imum)?|as\s+(?:many|much|few|little)\s+as)(?![A-Za-z])[\s:]*"
    r"|[\u2264\u2265<>]=?\s*|\\(?:[lg]eq?|[lg]eqslant)(?![A-Za-z])\s*",
    re.I,
)
# Right after a value, a case it holds in that is one of several, another named after it: "17 in one reading and 18
# in another", "17 under one interpretation, 18 under another", "17 in scenario 1, 18 in scenario 2".
_IN_ONE_CASE = re.compile(
    r"[\s$,;:(]{0,4}(?:in|under|on|for|by|with|from)\s+"
    rf"(?:{_ONE_CASE}|{_CASE_NOUN}\s+(?:[A-Za-z]|\d+))(?![A-Za-z0-9])",
    re.I,
)
_IN_ANOTHER_CASE = re.compile(  # "... and 18 in another": the value said for another case than one before it
    rf"[\s$,;:(]{{0,4}}(?:in|under|on|for|by)\s+{_OTHER_CASE}"
    r"(?:\s+(?:case|reading|interpretation|view|sense|way|count|scenario|assumption))?\s*(?:[.!?;)\n]|$)",
    re.I,
)
_ONE_CASE_BEFORE = re.compile(rf"(?<![A-Za-z]){_ONE_CASE}(?![A-Za-z])", re.I)
# Right after a value, a probability for it, and another value given one after it ("17 (confidence 70%); 18 (30%)",
# "17 with 60% probability and 18 with 40%"), or the chance of another value ("17, with a 30% chance of 18"):
# candidates weighed, none committed to (class 31). One value with its confidence is an answer ("17 (90% sure)").
_PROBABILITY_WORD = r"(?:confidence|confident|probability|prob|likelihood|chance|odds|likely|certain(?:ty)?|sure)"
_WEIGHT = re.compile(
    r"[\s,;:(\[]{0,4}(?:(?:with|at)\s+)?(?:an?\s+)?"
    rf"(?:(?:{_PROBABILITY_WORD}|p)\s*(?:of\s+)?[=:]?\s*\d*\.?\d+\s*%?|\d*\.?\d+\s*%(?:\s+{_PROBABILITY_WORD})?)",
    re.I,
)
# A value's own confidence right after it, written as a probability (a percentage or a fraction of one): "17 (90%
# sure)", "17 (confidence: 0.9)"; "17 (likely 18)" names another value.
_CONFIDENCE_AFTER = re.compile(
    r"[\s,;:(\[]{0,4}(?:(?:with|at)\s+)?(?:an?\s+)?(?:(?:confidence|probability|p)\s*[=:]?\s*(?:\d+(?:\.\d+)?\s*%|0?\.\d+)"
    r"|\d+(?:\.\d+)?\s*%\s*(?:confidence|confident|probability|likely|sure|certain(?:ty)?|chance))",
    re.I,
)
_PROBABILITY = re.compile(rf"(?<![A-Za-z])(?:{_PROBABILITY_WORD}(?![A-Za-z])|p\s*=)", re.I)
_CHANCE_OF_A_VALUE = re.compile(
    r"(?<![A-Za-z])(?:chance|probability|odds|likelihood)\s+(?:of|for|at|that\s+it\s+is|it\s+is|it's)\s*\$?\s*\d",
    re.I,
)
_ANOTHER_CASE = re.compile(rf"(?<![A-Za-z])(?:{_OTHER_CASE}|{CASE_LABEL_NOUN}\s+(?:[A-Za-z]|\d+))(?![A-Za-z0-9])", re.I)


def as_words(latex: str) -> str:
    """LaTeX's `\\text{...}` (and `\\mbox`, `\\mathrm`, `\\operatorname`) as the words it prints: `17 \\text{ or so}`
    is "17 or so" to a reader."""
    return _LATEX_WORDS.sub(r" \1 ", latex)


def choice_left_open(text: str, end: int, value: Fraction) -> bool:
    """After the value ending at `text[end]`, a disjunction, or a word of doubt with more of its clause after it,
    offers something else than `value` ("17 or XVIII", "17 or the next number", "17, or 17 + 1", "17, perhaps more"),
    though no other value of the reader's stands there: the value is not the answer. The same value said again after
    it ("17, or seventeen") leaves it the answer. So does an amount it may be off by, or a bound naming another value,
    right after it (`_MARGIN`, `_bounded_by_another`): "17, within one", "17 (at most 18)" give a range."""
    shown = revealed_letters(text[end : end + _REACH_AFTER])
    if _MARGIN.match(shown) or _bounded_by_another(shown, value):
        return True  # "17, within one", "17 (could be off by 1)", "17 (at most 18)": a range, not a value
    one_case = _IN_ONE_CASE.match(shown)
    if one_case and _ANOTHER_CASE.search(shown, one_case.end()):
        return True  # the value holds in one case of several: "17 in one reading and 18 in another"
    if _IN_ANOTHER_CASE.match(shown) and _ONE_CASE_BEFORE.search(
        revealed_letters(text[max(0, end - _REACH_AFTER) : end])
    ):
        return True  # "... 17 in one reading and 18 in another.": the last value, for the other case
    if _weighed(shown):
        return True  # "17 (confidence 70%); 18 (30%)", "17, with a 30% chance of 18"
    if_wrong = _IF_WRONG.search(shown)
    if if_wrong and any(other != value for _, _, other in values_in(shown[if_wrong.end() :])):
        return True  # "17. If 17 is wrong, 18": a fallback for the answer
    opening = _OPENS_A_CHOICE.match(shown) or _SENTENCE_OPENS_A_CHOICE.match(shown)
    if opening is None:
        return False
    rest = shown[opening.end() :]
    close = _CLAUSE_CLOSE.search(rest)
    rest = rest[: close.start() if close else len(rest)]
    if opening.groupdict().get("doubt") and not _WORD.search(rest) and not any(c.isdigit() for c in rest):
        return False  # "17, probably.": a doubt about the answer, not another choice
    said = values_in(rest)
    return not said or any(other != value for _, _, other in said)


_VALUES = re.compile(r"[$\d][\d.,/%]*")
_BOUND_JOINS = frozenset("and but or so though it is the answer value".split())


def margin_after(text: str, end: int) -> bool:
    """Right after the value ending at `text[end]`, an amount it may be off by (`_MARGIN`): "17 ± 1", "17, within 2"."""
    return _MARGIN.match(revealed_letters(text[end : end + _REACH_AFTER])) is not None


def _bounded_by_another(shown: str, value: Fraction) -> bool:
    """`shown`, the text right after a value, opens with a bound, and a bound in its clause names another value."""
    opening = _BOUND_OPENING.match(shown)
    if not _BOUND.match(shown, opening.end()):
        return False
    close = _CLAUSE_CLOSE.search(shown, opening.end())
    clause = shown[: close.start() if close else len(shown)]
    bounded = []
    for bound in _BOUND.finditer(clause, opening.end()):
        after = values_in(clause[bound.end() :])
        if after and after[0][0] == 0:
            bounded.append(after[0][2])
    rest = _BOUND.sub(" ", _VALUES.sub(" ", clause))
    if any(word.lower() not in _BOUND_JOINS for word in _WORD.findall(rest)):
        return False  # "17 (at most 20 fit in the box)": an account of the answer, not a range
    return any(other != value for other in bounded)


def _per_case(text: str, start: int, gap: str, after: str) -> bool:
    """The first value's condition (the words of its clause before it, and the gap's words up to the break where the
    second value's own words start) and the second value's (the gap's words after that break, and the words after the
    value in its clause) contrast (`_OPPOSED`, `_NEGATORS`, `_LABEL_LETTER`): each value is given for its own case."""
    before = revealed_letters(_VALUE_AT_END.sub("", text[max(0, start - _REACH_AFTER) : start]))
    breaks = list(_CLAUSE_BREAK.finditer(before))
    before = before[breaks[-1].end() :] if breaks else before
    splits = [(split.start(), split.end()) for split in _CASE_SPLIT.finditer(gap)]
    if text[start - 1 : start] in (".", "!", "?", ";"):
        splits.insert(0, (0, 0))  # the number reader took the first value's full stop with it: "17. Without Tom: 18"
    if not splits:
        return False  # one clause between the values: "17 with 5 red ones, 18 ..." is read by the rules above
    own_end = _CLAUSE_BREAK.search(after)
    first = before + " " + gap[: splits[0][0]]
    second = gap[splits[0][1] :] + " " + after[: own_end.start() if own_end else len(after)]
    if _ONE_CASE_BEFORE.search(first) and _ANOTHER_CASE.search(second):
        return True  # "17 for the first interpretation; for the second, 18"
    first_words = {word.lower() for word in _WORD.findall(first)}
    second_words = {word.lower() for word in _WORD.findall(second)}
    second_only = second_words - first_words
    both_answers = "answer" in first_words and "answer" in second_words
    for one, other in _OPPOSED + (_STORY_OPPOSED if both_answers else ()):
        if (
            _holds(first_words, one)
            and _holds(second_only, other)
            or _holds(first_words, other)
            and _holds(second_only, one)
        ):
            return True  # "With Tom: 17. Without Tom: 18.", "Rounded down: 17. Rounded up: 18."
    negated = second_words & _NEGATORS or "n't" in second.lower()
    if first_words & _CONDITION_WORDS and negated and len(second_words) <= 6:
        return True  # "17 if Tom counts and 18 if he does not", "17 when counting Tom, 18 when not"
    first_labels, second_labels = set(_LABEL_LETTER.findall(first)), set(_LABEL_LETTER.findall(second))
    return bool(first_labels and second_labels and first_labels.isdisjoint(second_labels))


def _holds(words: set[str], stem: str) -> bool:
    """`words` hold the word `stem`, or for a stem of five letters or more a word that starts with it."""
    return stem in words or len(stem) >= 5 and any(word.startswith(stem) for word in words)


# A candidate or a case numbered after the first, as a label: "Answer 2: 18", "Case 2: 18", "Option 3) 18". The
# number reader reads the label as a value, so the two answers are never side by side without it.
_LABELLED_NOUN = rf"(?<![A-Za-z])(?:{_CANDIDATE_NOUN}|{CASE_LABEL_NOUN})\s*(?:no\.?|#)?\s*"
_MARK = r"\s*(?::|\)|->|→|=>)"
_LATER_NUMBER = r"(?:[2-9]|\d\d+)"
_NUMBERED_NOUN = re.compile(rf"{_LABELLED_NOUN}$", re.I)
_LABEL_MARK = re.compile(_MARK)
# Right before a value, the label of a candidate or case after the first: the value is given for it ("Case 2: 18"),
# the noun said once for the list ("Interpretation 1: 17; 2: 18").
_NUMBERED_LABEL_BEFORE = re.compile(rf"{_LABELLED_NOUN}{_LATER_NUMBER}{_MARK}\s*$", re.I)
_BARE_LABEL_BEFORE = re.compile(rf"(?:^|[;,.\n])\s*{_LATER_NUMBER}{_MARK}\s*$")
# Items of a list lettered a), b), ...: a value after a later letter, in a list that began with a)
_LATER_LETTER_BEFORE = re.compile(r"(?:^|[\s;,.:(\n])\(?[b-h]\)\s*$")
_FIRST_LETTER = re.compile(r"(?:^|[\s;,.:(\n])\(?a\)")
_FIRST_LABEL = re.compile(rf"{_LABELLED_NOUN}1{_MARK}", re.I)


def labelled_a_later_case(before: str) -> bool:
    """`before`, the text before a value, ends with the label of a candidate or case after the first: "Case 2:",
    "Answer 2:", a bare "2:" in a list whose first label named its noun ("Interpretation 1: 17; 2:"), or a later
    letter of a lettered list ("(a) 17 (b)")."""
    if _NUMBERED_LABEL_BEFORE.search(before):
        return True
    if _LATER_LETTER_BEFORE.search(before) and _FIRST_LETTER.search(before):
        return True  # "Answers: (a) 17 (b) 18"
    return _BARE_LABEL_BEFORE.search(before) is not None and _FIRST_LABEL.search(before) is not None


def _ranked_by_number(text: str, start: int, end: int) -> bool:
    """Of two values close together (the first ending at `start`, the second starting at `end`), one is the number of
    a candidate or case after the first: the second value is that number, or the first is the number of the
    second."""
    second = re.match(r"\d+", text[end : end + 12])
    first = re.search(r"\d+$", text[max(0, start - 12) : start])
    return bool(
        second is not None
        and _numbers_a_later_one(text, end, end + second.end())
        or first is not None
        and _numbers_a_later_one(text, start - len(first.group(0)), start)
    )


def _numbers_a_later_one(text: str, start: int, end: int) -> bool:
    """The digits `text[start:end]` number a candidate or case after the first, as an ordinal rank (`_ORDINAL_RANK`:
    "2nd guess") or as a label (`_NUMBERED_NOUN`: "Answer 2:", "Case 2:")."""
    if not _LATER_ORDINAL.search(text[start:end]):
        return False
    if _ORDINAL_RANK.match(text, end):
        return True
    return (
        _LABEL_MARK.match(text, end) is not None and _NUMBERED_NOUN.search(text[max(0, start - 30) : start]) is not None
    )


def _weighed(shown: str) -> bool:
    """`shown`, the text right after a value, gives that value a probability and the next value one too, or gives
    another value a chance: the value is one of several candidates weighed (`_WEIGHT`)."""
    if _CHANCE_OF_A_VALUE.search(shown):
        return True
    weight = _WEIGHT.match(shown)
    if weight is None:
        return False
    rest = ascii_signs(shown[weight.end() :])
    following = values_in(rest)
    if not following:
        return False
    other = _WEIGHT.match(rest, following[0][1])
    return other is not None and _PROBABILITY.search(weight.group(0) + " " + other.group(0)) is not None


def _bare_join(gap: str) -> bool:
    """The gap holds one of `_BARE_JOIN`'s joins and nothing else but spacing and `$` (looked at only when short: a
    long gap is no bare join, and the pattern never meets a long run of anything)."""
    core = " ".join(gap.replace("$", " ").split())
    return len(core) <= _BARE_JOIN_CHARS and _BARE_JOIN.fullmatch(core) is not None


def _offers_between(text: str, gap: str, end: int) -> bool:
    """`gap`: the text between the two values as a reader sees it, ending at `end` in `text`."""
    shown = _LATEX_COMMAND.sub(" ", as_words(gap))
    if "=" in gap:
        return _CHOICE_LABEL.search(shown) is not None  # "alt=18" names a choice; an equation states one value
    if ":" in shown:
        return _CHOICE_LABEL.search(shown) is not None  # a choice ("alt: 18"), not a label ("Total: 18")
    bracket = _BRACKET_AT_END.search(shown)
    if bracket:
        closing = text.find(")" if "(" in bracket.group(0) else "]", end, end + _REACH_AFTER)
        if closing != -1 and _CALCULATION.search(text[end:closing]):
            return False  # "18 (9 eggs × $2)": the bracket shows how the answer was found
    words = [word.lower() for word in _WORD.findall(_AKA.sub(" aka ", _AND_OR.sub(" or ", shown)))]
    broken = _SENTENCE_BREAK.search(shown) is not None
    if not words:
        return not broken
    if len(words) > _MAX_GAP_WORDS:
        return False
    if _FALLBACK_BEFORE.search(shown):
        return True  # "17, if not 18", "17, failing that 18"
    if _RANKED_BEFORE.search(shown):
        return True  # "17; second guess 18", "17. My second answer is 18.": another candidate, ranked
    conditional = any(word in _CONDITIONAL for word in words)
    if _MODAL_BE.search(shown) or conditional and (_THE_ANSWER_IS.search(shown) or _CONDITION_CLOSED.search(shown)):
        return True  # the second value is named as what the answer could be, or as a condition's outcome
    reason = any(word in _REASONS for word in words)
    if any(word in _DISJUNCTIVE for word in words) or _DOUBT_BEFORE.search(shown):
        return not reason or not broken
    if reason or broken or conditional:
        return False
    return all(word in _RANGE for word in words) or _RANGE_END.search(shown) is not None


def offered_together(text: str, earlier: Span, later: Span) -> bool:
    """Two answer markers with different contents offered as alternatives (`\\boxed{17}, \\boxed{18}`, `$17$ or
    $18$`): the later one is not the response's answer alone."""
    return (
        earlier.end <= later.start
        and earlier.content.strip() != later.content.strip()
        and offers_alternatives(text, earlier.end, later.start, later.end)
    )


def sole_answer(text: str, markers: list[Span]) -> str | None:
    """The last marker's content (`markers`: the last two, as `last_two_boxed` gives them), or None when the one
    before it is offered with it, or a value beside it is (`offered_beside`). A negated last marker is no answer;
    the one before it is."""
    if len(markers) == 2 and offered_together(text, *markers):
        return None
    if _negated(text, markers[-1]):  # "\\boxed{18}, not \\boxed{17}": the answer is the one before, if any
        markers = markers[:-1]
        if not markers or _negated(text, markers[-1]):
            return None
    if offered_beside(text, markers[-1]):
        return None
    return markers[-1].content


# A final answer stated in two formats, side by side, must be one answer: "The answer is 17. #### 18", "\\boxed{17}
# The answer is 18.", "<answer>Paris</answer> The answer is Lyon." A reader takes one of them by its own order of
# markers, and a response that never committed is paid whichever it takes.
ANSWER_CUE = re.compile(r"answer\s+is\b|answer\s*:", re.I)  # "The answer is 17", "Answer: 17"
CLAUSE_END = re.compile(r"[.!?;](?:\s|$)|\n")
CORRECTION = re.compile(r"\b(?:wait|actually|correction|sorry|i\s+mean|no,)\b", re.I)


def answer_clauses(text: str) -> list[Span]:
    """The last two "answer is" / "Answer:" clauses: each from its cue to the clause's end, holding what follows the
    cue."""
    spans = []
    for cue in list(ANSWER_CUE.finditer(text))[-2:]:
        end = CLAUSE_END.search(text, cue.end())
        stop = end.start() if end else len(text)
        spans.append(Span(cue.start(), stop, text[cue.end() : stop]))
    return spans


def final_statements(text: str) -> list[tuple[str, Span]]:
    """The final-answer statements of every kind the readers know, (kind, span holding what it states), in order: the
    last two boxes and `<answer>` tags, the last two "answer is" clauses and the last `####` line, each of those two
    cut where another statement starts ("Answer: 2 \\boxed{3}", "#### 2 The answer is 3.")."""
    statements = [("box", span) for span in last_two_boxed(text)] + [("tag", span) for span in last_two_tagged(text)]
    cues = [("answer is", span.start, span.end - len(span.content), span.end) for span in answer_clauses(text)]
    at = text.rfind("####")
    if at != -1:
        line_end = text.find("\n", at)
        cues.append(("####", at, at + 4, len(text) if line_end == -1 else line_end))
    starts = [span.start for _, span in statements] + [start for _, start, _, _ in cues]
    for kind, start, content_start, end in cues:
        end = min([end, *(other for other in starts if other > start)])
        statements.append((kind, Span(start, end, text[content_start:end])))
    return sorted(statements, key=lambda statement: statement[1])


def contradicted(text: str, statements: list[tuple[str, Span]], same) -> bool:
    """Two final-answer statements of different kinds (`final_statements`, in order), next to each other, say
    different things (`same(first, second)` is false for their contents) with only words between them: no working
    (a digit, an equation) that would make the first a step, and no correction ("wait", "actually") that withdraws
    it. Two of one kind are `offers_alternatives`' to judge ("\\boxed{500}, then after checking the units
    \\boxed{1}" is one answer, revised)."""
    for (kind, earlier), (other_kind, later) in zip(statements, statements[1:]):
        if kind == other_kind or later.start < earlier.end:
            continue  # one inside the other is one statement
        gap = text[earlier.end : later.start]
        if "=" in gap or CORRECTION.search(gap) or any(character.isdigit() for character in gap):
            continue
        if not same(earlier.content, later.content):
            return True
    return False


_NEGATION_BEFORE = re.compile(r"(?:(?<![A-Za-z])not|n't|(?<![A-Za-z])(?:instead\s+of|rather\s+than))\W*$", re.I)


def _negated(text: str, marker: Span) -> bool:
    before = revealed_letters(text[max(0, marker.start - 40) : marker.start])
    return _NEGATION_BEFORE.search(_LATEX_COMMAND.sub(" ", before)) is not None


_BESIDE_REACH = 300  # characters each side of a marker where a value offered with it is looked for


def next_value(values: list[tuple[int, int, Fraction]], value: Fraction) -> tuple[int, int, Fraction] | None:
    """Of the values after `value` (start, end, value each), the one to weigh as its alternative: the next, or the one
    after it when the next is the same value again, as often as not a label's number ("The answer is 2. Answer 2: 1",
    "$\\boxed{2}$ (2nd guess: $1$)") or a margin ("1 ± 1")."""
    if len(values) > 1 and values[0][2] == value:
        return values[1]
    return values[0] if values else None


def offered_beside(text: str, marker: Span) -> bool:
    """A marker with another value just outside it offered as its alternative. A number: another number (in digits or
    words) after it ("$\\boxed{17}$, though it could be $18$", "\\boxed{17} or eighteen") or before it in words ("17
    or perhaps \\boxed{18}"; symbols alone before a marker are a label: "(2) \\boxed{7}"). Any other answer: another
    word after it in the same sentence ("<answer>Paris</answer>, though it could be Lyon")."""
    if len(marker.content) > _BESIDE_REACH:
        return False
    value = read_number(marker.content)
    if value is None:
        return _word_offered_after(text, marker)
    if choice_left_open(text, marker.end, value):
        return True  # "\\boxed{17} or XVIII", "\\boxed{17}, or something else"
    if _equated_beside(text, marker, value):
        return True  # "\\boxed{17} = 18", "18 = \\boxed{17}"
    after = ascii_signs(text[marker.end : marker.end + _BESIDE_REACH])
    following = next_value(values_in(after), value)
    if following and following[2] != value and offers_alternatives(after, 0, following[0], following[1]):
        return True
    before = ascii_signs(text[max(0, marker.start - _BESIDE_REACH) : marker.start])
    preceding = values_in(before)
    return bool(
        preceding
        and preceding[-1][2] != value
        and _WORD.search(_LATEX_COMMAND.sub(" ", before[preceding[-1][1] :]))
        and offers_alternatives(before, preceding[-1][1], len(before))
    )


def _equated_beside(text: str, marker: Span, value: Fraction) -> bool:
    """A number marker set equal to another value, each a whole side: "\\boxed{17} = 18", "18 = \\boxed{17}"."""
    window = max(0, marker.start - _BESIDE_REACH)
    before = [(window + start, window + end, other) for start, end, other in values_in(text[window : marker.start])]
    after = [
        (marker.end + start, marker.end + end, other)
        for start, end, other in values_in(text[marker.end : marker.end + _BESIDE_REACH])
    ]
    return bool(
        (before and before[-1][2] != value and equated(text, before[-1][:2], marker[:2]))
        or (after and after[0][2] != value and equated(text, marker[:2], after[0][:2]))
    )


_SENTENCE_END = re.compile(r"[.!?](?:\s|$)|\n")
_TEXT_REACH = 120  # characters of the marker's sentence read for a word offered as its alternative
_TOKEN_START = re.compile(r"(?<![\w$\\])[\w$\\]")
_TOKEN = re.compile(r"[$\\]*[\w+\-^{}]+")
_FUNCTION_WORDS = frozenset("is are was were be it this that these those the a an also which and or but so".split())


def _word_offered_after(text: str, marker: Span) -> bool:
    """The rest of the marker's sentence, or the next one, offers another word as the answer: a word in it that is not
    the marker's own answer follows the marker through words of choice (`offers_alternatives`; symbols alone do not
    separate two words), or is accepted as well by its own words ("(Lyon is also possible)")."""
    tail = text[marker.end : marker.end + _TEXT_REACH]
    ends = [end.start() for _, end in zip(range(2), _SENTENCE_END.finditer(tail))]
    tail = tail[: ends[1] if len(ends) == 2 else len(tail)]  # its sentence and the next: "Paris. Or Lyon."
    own = marker.content.strip().strip("$").lower()
    for start in _TOKEN_START.finditer(tail):
        token = _TOKEN.match(tail, start.start())
        candidate = token.group(0).strip("$").lower() if token else ""
        if not candidate or own.startswith(candidate) or candidate in _FUNCTION_WORDS:
            continue
        if _ACCEPTED_TOO.match(revealed_letters(tail[token.end() : token.end() + _REACH_AFTER])):
            return True  # "<answer>Paris</answer> (Lyon is also possible)": accepted as well, whatever leads to it
        if not _WORD.search(_LATEX_COMMAND.sub(" ", tail[: start.start()])):
            continue  # words follow one another with symbols between: only a word of choice offers one
        if offers_alternatives(tail, 0, start.start()):
            return True
    return False
