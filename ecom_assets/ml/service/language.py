"""A question's language, from its script, and its words for a lexical index."""

from __future__ import annotations

import logging
import re
from functools import lru_cache

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_PUNCT = re.compile(r"^[\W_]+$", re.UNICODE)

# The commonest English function words: they carry no topic, and BM25's idf only half
# discounts them on small answer sets.
ENGLISH_STOPWORDS = frozenset("""
a an the and or but if of to in on at by for with from as is are was were be been being am do does did
it its this that these those i you he she we they me my your our their his her them us
so than too very can will would should could may might must just not no yes there here what which who
whom whose when where why how all any both each few more most other some such only own same s t
""".split())
CHINESE_STOPWORDS = frozenset("的 了 吗 呢 吧 啊 呀 是 在 我 你 他 她 它 们 这 那 和 与 及 就 都 也 还 要 会 能 可以 请问 请 一下 么".split())


def detect_language(text: str) -> str:
    """"zh" when Chinese characters make up at least 30% of the letters, else "en"."""
    cjk = len(_CJK.findall(text or ""))
    latin = len(_LATIN.findall(text or ""))
    return "zh" if cjk and cjk >= 0.3 * (cjk + latin) else "en"


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def words(text: str, language: str | None = None) -> list[str]:
    """Lower-cased content words: regex words for English, jieba's search-mode segments for
    Chinese (Latin words and numbers inside Chinese text kept as they are); stop words and
    punctuation dropped. Never empty for a non-empty text (the stop words come back when
    nothing else is left, so "Is it?" still has words)."""
    text = (text or "").strip()
    language = language or detect_language(text)
    if language == "zh":
        tokens = [t.strip().lower() for t in _jieba().lcut_for_search(text)]
        tokens = [t for t in tokens if t and not _PUNCT.match(t)]
        content = [t for t in tokens if t not in CHINESE_STOPWORDS]
    else:
        tokens = _WORD.findall(text.lower())
        content = [t for t in tokens if t not in ENGLISH_STOPWORDS]
    return content or tokens
