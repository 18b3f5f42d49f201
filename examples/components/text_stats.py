"""text-stats: a pipeline written only with @component and @pipeline.

It splits a text into words (stored as a file artifact), counts their
letters and finds the longest word from that file side by side, reports,
shouts the longest word when the text has more than three words (a
Condition), and shouts each extra word (a ParallelFor).

    python -m weft compile examples.components.text_stats:text_stats -o var/text-stats
    python -m weft serve-components examples.components.text_stats --deploy
"""

from typing import List, NamedTuple

from weft.components import Condition, Dataset, Input, Output, ParallelFor, component, pipeline


class Report(NamedTuple):
    words: int
    letters: int
    longest: str
    mean: float


@component(name="text.words")
def words(text: str, tokens: Output[Dataset]) -> int:
    """Split a text into words
    Writes the words, one per line, to the tokens artifact; returns how many."""
    ws = [w.strip(".,;:!?\"'()").lower() for w in text.split()]
    ws = [w for w in ws if w]
    with open(tokens.path, "w", encoding="utf-8") as f:
        f.write("\n".join(ws) + "\n")
    return len(ws)


def _read(tokens: Input[Dataset]) -> List[str]:
    with open(tokens.path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


@component(name="text.letters")
def letters(tokens: Input[Dataset]) -> int:
    """Count the letters of the words"""
    return sum(len(w) for w in _read(tokens))


@component(name="text.longest")
def longest(tokens: Input[Dataset]) -> str:
    """Find the longest word (the first of equals)"""
    best = ""
    for w in _read(tokens):
        if len(w) > len(best):
            best = w
    return best


@component(name="text.report")
def report(words: int, letters: int, longest: str) -> Report:
    """Put the figures together"""
    return Report(words=words, letters=letters, longest=longest, mean=round(letters / words, 2) if words else 0.0)


@component(name="text.shout")
def shout(word: str) -> str:
    """Shout a word"""
    return word.upper() + "!"


@pipeline(name="text-stats")
def text_stats(text: str = "Weft runs pipelines as graphs of typed steps", extra: List[str] = ["dag", "ml"]):
    """Word statistics of a text, as a DAG of components."""
    w = words(text=text)
    n = letters(tokens=w.outputs["tokens"])
    lw = longest(tokens=w.outputs["tokens"])
    r = report(words=w.output, letters=n.output, longest=lw.output)
    with Condition(w.output > 3, name="many_words") as many:
        shout(word=lw.output)
    each = ParallelFor(extra, name="each_extra")
    with each as item:
        shout(word=item)
    return {"words": r.outputs["words"], "letters": r.outputs["letters"], "longest": r.outputs["longest"],
            "mean": r.outputs["mean"], "loud": many.output, "extra": each.output}
