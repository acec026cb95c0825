"""Product attributes in copy: the AdvertiseGen attribute format and the faithfulness check.

Attribute lists are written as in AdvertiseGen (the ADGEN data-to-text set):
`类型#上衣*材质#牛仔布*颜色#白色*风格#简约` - key#value pairs joined by `*`; a key may repeat
(two styles). The faithfulness check reads a line for the values of the checked keys
(colour, material, pattern, style, fit) that the attribute vocabulary knows and rejects a
value the product does not have, as the fact check rejects a wrong price: "this white
shirt in black" is a wrong fact, not a style choice.

The vocabulary is what the corpus's attribute lists use (so a merchant's own attribute
values are known as soon as their copy is ingested), plus a few built-in colours and
materials in both languages, so the check works on a shop with no attribute lists yet.
A product's attributes are its own attribute list when it has one, and otherwise what its
title and description state (a demo phone titled "... - Pink" is pink).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The keys whose values a line must not invent, by their AdvertiseGen names (colour,
# material, pattern, style, fit) and the English names a merchant file may use.
CHECKED_KEYS = {"颜色": "colour", "材质": "material", "图案": "pattern", "风格": "style", "版型": "fit",
                "colour": "colour", "color": "colour", "material": "material", "pattern": "pattern", "style": "style",
                "fit": "fit"}
_CANONICAL = {"colour": "颜色", "material": "材质", "pattern": "图案", "style": "风格", "fit": "版型"}

BUILT_IN: dict[str, dict[str, list[str]]] = {
    "zh": {"颜色": ["黑色", "白色", "蓝色", "红色", "绿色", "灰色", "粉色", "米色", "黄色", "紫色", "橙色", "棕色", "卡其色", "藏青色"],
           "材质": ["棉", "纯棉", "亚麻", "羊毛", "真丝", "蚕丝", "皮革", "真皮", "牛仔布", "雪纺", "针织", "涤纶"]},
    "en": {"颜色": ["black", "white", "blue", "red", "green", "grey", "gray", "pink", "beige", "yellow", "purple", "orange",
                  "brown", "navy", "khaki"],
           "材质": ["cotton", "linen", "wool", "silk", "leather", "denim", "chiffon", "polyester", "cashmere"]},
}


# Values that name the same thing: stating one where the product lists the other is no invention.
SYNONYMS = {"真丝": "蚕丝", "蚕丝": "真丝", "gray": "grey", "grey": "gray"}


class AttributeFormatError(ValueError):
    pass


def parse_attributes(text: str) -> list[tuple[str, str]]:
    """`类型#上衣*颜色#白色` -> [("类型", "上衣"), ("颜色", "白色")]; a part without `#`
    raises, naming it."""
    pairs = []
    for part in (text or "").split("*"):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("#")
        if not sep or not key.strip() or not value.strip():
            raise AttributeFormatError(f"attribute {part!r} is not key#value")
        pairs.append((key.strip(), value.strip()))
    return pairs


def format_attributes(pairs) -> str:
    return "*".join(f"{k}#{v}" for k, v in pairs)


def attribute_map(pairs) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for key, value in pairs:
        out.setdefault(key, set()).add(value.lower())
    return out


def _checked(key: str) -> str | None:
    kind = CHECKED_KEYS.get(key.lower() if key.isascii() else key)
    return _CANONICAL[kind] if kind else None


@dataclass
class AttributeVocabulary:
    """Known values per checked key (AdvertiseGen key names), per language."""

    values: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # language -> key -> values
    # Built on first use: per language the value regex and each value's keys; per
    # (tokenizer, language) the values each token spells.
    _patterns: dict = field(default_factory=dict, repr=False, compare=False)
    _token_values: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(cls, attribute_lists: list[tuple[str, str]] = (), built_in: bool = True) -> "AttributeVocabulary":
        """From (language, attribute list) rows, plus the built-in colours and materials."""
        vocabulary = cls()
        if built_in:
            for language, keys in BUILT_IN.items():
                for key, values in keys.items():
                    vocabulary.values.setdefault(language, {}).setdefault(key, set()).update(values)
        for language, text in attribute_lists:
            for key, value in parse_attributes(text):
                canonical = _checked(key)
                # A one- or two-letter Latin value ("h" for an H-line fit) would be found inside any word.
                if canonical and not (value.isascii() and len(value) < 3):
                    vocabulary.values.setdefault(language, {}).setdefault(canonical, set()).add(value.lower())
        return vocabulary

    def size(self) -> dict[str, int]:
        return {f"{language}:{key}": len(v) for language, keys in self.values.items() for key, v in sorted(keys.items())}

    def _pattern(self, language: str):
        cache = self._patterns
        if language not in cache:
            owners: dict[str, set[str]] = {}
            for key, values in self.values.get(language, {}).items():
                for value in values:
                    owners.setdefault(value, set()).add(key)
            # Longest first, so 浅蓝色 is read as itself and not as 蓝色; English values are whole words.
            ordered = sorted(owners, key=len, reverse=True)
            body = "|".join(re.escape(v) for v in ordered)
            regex = re.compile(rf"\b(?:{body})\b" if language == "en" else f"(?:{body})", re.IGNORECASE) if ordered else None
            cache[language] = (regex, owners)
        return cache[language]

    def stated(self, text: str, language: str) -> list[tuple[str, str]]:
        """(key, value) of every known attribute value the text states, in order."""
        regex, owners = self._pattern(language)
        if regex is None:
            return []
        out = []
        for match in regex.finditer(text or ""):
            value = match.group(0).lower()
            out += [(key, value) for key in sorted(owners.get(value, ()))]
        return out


@dataclass(frozen=True)
class AttributeFinding:
    key: str
    value: str
    known: tuple[str, ...]

    @property
    def reason(self) -> str:
        has = ", ".join(self.known) if self.known else "none given"
        return f"attribute: states {self.key} '{self.value}', which the product does not have ({self.key}: {has})"


def unsupported_attributes(text: str, language: str, vocabulary: AttributeVocabulary, attributes: dict[str, set[str]],
                           product_text: str = "") -> list[AttributeFinding]:
    """Each attribute value the line states that the product has neither in its attribute
    list (any key: 蕾丝 is a material and a pattern) nor in its own title and description."""
    own = {v for values in attributes.values() for v in values}
    described = (product_text or "").lower()
    findings, seen = [], set()
    for key, value in vocabulary.stated(text, language):
        if value in own or SYNONYMS.get(value) in own or (described and value in described) or (key, value) in seen:
            continue
        # 纯色 ("solid colour") states no particular colour; it only conflicts with a pattern the product has.
        if value in ("纯色",) and not attributes.get("图案"):
            continue
        seen.add((key, value))
        findings.append(AttributeFinding(key, value, tuple(sorted(attributes.get(key, ())))))
    return findings


def attribute_coverage(text: str, pairs) -> float:
    """Share of the attribute list's values the text mentions (what a reader of the list
    expects the copy to talk about)."""
    values = {v for _, v in pairs if len(v) > 1}
    return sum(v in text for v in values) / len(values) if values else 0.0


def blocked_tokens(tokenizer, vocabulary: AttributeVocabulary, language: str, attributes: dict[str, set[str]],
                   product_text: str = "") -> list[int]:
    """Token ids whose text states a known attribute value the product does not have:
    what a decoder may not write for it (constrained decoding; the review still checks
    values that are spelled across several tokens)."""
    cache = vocabulary._token_values
    key = (id(tokenizer), language)
    if key not in cache:
        pieces = {}
        for token_id in range(len(tokenizer)):
            text = tokenizer.decode([token_id])
            found = vocabulary.stated(text, language)
            if found:
                pieces[token_id] = {value for _, value in found}
        cache[key] = pieces
    own = {v for values in attributes.values() for v in values}
    described = (product_text or "").lower()
    return [t for t, values in cache[key].items()
            if any(v not in own and SYNONYMS.get(v) not in own and v not in described for v in values)]
