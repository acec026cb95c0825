"""Ad copy: the training corpus, prompts, marketer templates with slots, and a scorer.

Facts never come from the model. The corpus teaches the generator to write copy with
slot markers ({product_name}, {discount_percentage}, {price}, ...) where facts go; slots
are filled from the catalogue afterwards. Marketer templates are lines with the same
slots plus {copy}, where the generated text goes (without it, the generated text comes
first). A slot that is unknown, or that the product has no value for, is an error that
names the template and the slot.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ecom_assets.ml.common.parallel import LocalRunner, Runner, cached_per_process, cpus_per_worker, shard_bounds
from ecom_assets.ml.common.text_safety import facts_stated
from ecom_assets.ml.copy.attributes import (
    AttributeVocabulary,
    attribute_map,
    blocked_tokens,
    format_attributes,
    parse_attributes,
)
from ecom_assets.ml.copy.generator import BOS, COPY
from ecom_assets.ml.copy.review import CHANNELS, review

SLOT = re.compile(r"\{([a-z_]+)\}")
SLOTS = {"product_name", "brand", "category", "price", "original_price", "discount_percentage", "currency", "copy"}

# Hand-written families per language: {benefit} and {hook} are filled when the corpus is
# written (descriptive words by category and segment); fact slots stay as slots.
COPY_FAMILIES: dict[str, dict[str, list[str]]] = {
    "en": {
        "benefit_first": ["{benefit} with {product_name}.", "{product_name}: {benefit}.", "Meet {product_name} - {benefit}."],
        "deal": ["{product_name}, now {discount_percentage}% off.", "Save {discount_percentage}% on {product_name} today.",
                 "{discount_percentage}% off {product_name} from {brand}."],
        "audience": ["{hook} {product_name} is made for you.", "{hook} Try {product_name} by {brand}.",
                     "{hook} {product_name}, {benefit}."],
        "price": ["{product_name} for {currency} {price}.", "Only {currency} {price}: {product_name}."],
    },
    "zh": {
        "benefit_first": ["{product_name}，{benefit}。", "{benefit}，就选{product_name}。", "{brand}{product_name}，{benefit}。"],
        "deal": ["{product_name}限时{discount_percentage}%折扣，不容错过！", "购买{product_name}，立享{discount_percentage}%优惠。",
                 "{brand}{product_name}，现在优惠{discount_percentage}%。"],
        "audience": ["{hook}{product_name}为你而来。", "{hook}试试{brand}的{product_name}。", "{hook}{product_name}，{benefit}。"],
        "price": ["{product_name}，仅需{price}元。", "{price}元入手{product_name}。"],
    },
}
BENEFITS: dict[str, dict[str, list[str]]] = {
    "Electronics": {"en": ["smart tech for every day", "stay connected all day", "power that keeps up with you"],
                    "zh": ["智能科技，随时在线", "续航持久，使用安心", "轻松连接每一天"]},
    "Beauty": {"en": ["care your skin will love", "a fresh look every morning", "gentle care, visible glow"],
               "zh": ["温和呵护，焕发光彩", "每天都有好气色", "轻盈质地，舒适不黏腻"]},
    "Fashion": {"en": ["style that moves with you", "comfort from morning to night", "an easy look for any day"],
                "zh": ["舒适百搭，轻松出行", "简约设计，穿出好心情", "有型又舒适"]},
    "Home & Kitchen": {"en": ["make home a little easier", "cook more, clean less", "tidy space, calm mind"],
                       "zh": ["让家更舒适", "下厨更轻松", "收纳整洁，生活有序"]},
    "Sports & Outdoors": {"en": ["ready for your next workout", "built for the outdoors", "move more, feel better"],
                          "zh": ["运动随心，活力满满", "户外出行好伙伴", "每一次训练都更自在"]},
    "Grocery & Baby": {"en": ["good things for every day", "gentle for the little ones", "a small treat for your day"],
                       "zh": ["每天的好味道", "宝宝用得安心", "健康美味，随手可得"]},
    # Any other category (a real catalogue's own tree): benefits that fit every product.
    "_any": {"en": ["a good pick for every day", "made to be used and loved", "easy to choose, easy to enjoy"],
             "zh": ["日常好选择", "实用又贴心", "选得放心，用得开心"]},
}
# Sub-categories whose top category's benefits would not fit them.
BENEFITS_BY_L2: dict[str, dict[str, list[str]]] = {
    "Camping": {"en": ["built for nights under the stars", "set up camp in minutes", "the outdoors, made comfortable"],
                "zh": ["户外露营好伙伴", "轻松搭建，说走就走", "星空下也能睡得安稳"]},
    "Cycling": {"en": ["ride further, ride safer", "made for the road", "every ride more comfortable"],
                "zh": ["骑行更安心", "为每一次出发准备", "长途骑行也舒适"]},
    "Chargers & Cables": {"en": ["power up faster", "a charge whenever you need it", "one cable, every day"],
                          "zh": ["充电更快更省心", "随时满电出发", "耐用好用"]},
}
HOOKS: dict[str, dict[str, str]] = {
    "tech_enthusiast": {"en": "Love new gadgets?", "zh": "数码控看过来！"},
    "beauty_lover": {"en": "Your beauty routine, upgraded.", "zh": "爱美的你，"},
    "fashionista": {"en": "Fresh looks for the season.", "zh": "时尚达人，"},
    "home_maker": {"en": "For a cosier home:", "zh": "居家好物，"},
    "fitness_fan": {"en": "Training hard?", "zh": "运动达人，"},
    "young_parent": {"en": "For busy parents:", "zh": "宝爸宝妈，"},
    "bargain_hunter": {"en": "Deal alert!", "zh": "划算好价，"},
    "premium_shopper": {"en": "Quality you can feel.", "zh": "品质之选，"},
}
DEFAULT_TEMPLATES = [
    {"template_id": "en_plain", "language": "en", "channel": "feed", "text": "{copy}"},
    {"template_id": "en_deal", "language": "en", "channel": "feed", "text": "{copy} Now {discount_percentage}% off."},
    {"template_id": "zh_plain", "language": "zh", "channel": "feed", "text": "{copy}"},
    {"template_id": "zh_deal", "language": "zh", "channel": "feed", "text": "购买{product_name}，享受{discount_percentage}%的折扣，不容错过！{copy}"},
]


class TemplateError(ValueError):
    pass


def product_facts(row: dict, language: str) -> dict:
    """Slot values of one catalogue row (title in the copy's language, falling back)."""
    title = (row.get("title_zh") if language == "zh" else row.get("title_en")) or row.get("title_en") or row.get("title_zh")
    discount = row.get("discount_pct")
    price = row.get("effective_price") if row.get("effective_price") is not None else row.get("price")
    return {
        "product_name": title, "title": title, "brand": row.get("brand"),
        "category": row.get("category_l2"), "currency": row.get("currency") or "CNY",
        "price": _fmt(price), "original_price": _fmt(row.get("price")),
        # Shown as a whole percentage, rounded down: copy may understate a discount, never overstate it.
        "discount_percentage": str(int(np.floor(discount + 1e-9))) if discount and discount >= 1 else None,
        "discount_pct": discount if discount and discount > 0 else None,
        "effective_price": price, "original": row.get("price"),
    }


def _fmt(value) -> str | None:
    if value is None or pd.isna(value):
        return None
    value = float(value)
    return f"{value:.0f}" if value.is_integer() else f"{value:.2f}"


def slots_of(text: str) -> list[str]:
    return SLOT.findall(text)


def fill(text: str, facts: dict, template_id: str = "generated", item_id: str = "") -> str:
    """Replace every {slot} with the product's value; unknown or empty slots raise."""
    def value(m: re.Match) -> str:
        slot = m.group(1)
        if slot not in SLOTS or slot == "copy":
            raise TemplateError(f"template {template_id}: unknown slot {{{slot}}} (known: {', '.join(sorted(SLOTS - {'copy'}))})")
        v = facts.get(slot)
        if v is None or (isinstance(v, float) and np.isnan(v)) or v == "":
            raise TemplateError(f"template {template_id}: product {item_id} has no value for {{{slot}}}")
        return str(v)
    return SLOT.sub(value, text)


def apply_template(template: dict, generated: str, facts: dict, item_id: str) -> str:
    body = template["text"] if "{copy}" in template["text"] else "{copy} " + template["text"]
    head, _, tail = body.partition("{copy}")
    return (fill(head, facts, template["template_id"], item_id) + generated + fill(tail, facts, template["template_id"], item_id)).strip()


def validate_templates(templates: list[dict]) -> None:
    """Fail early on a template with a slot nobody can fill."""
    for t in templates:
        unknown = [s for s in slots_of(t["text"]) if s not in SLOTS]
        if unknown:
            raise TemplateError(f"template {t['template_id']}: unknown slot(s) {', '.join('{' + s + '}' for s in unknown)}")


def prompt(language: str, segment: str, interests: list[str], category: str, brand: str, on_sale: bool,
           attributes: str = "", style: str = "", exemplar: str = "") -> str:
    """The generator's input. `attributes`: an attribute list (`类型#上衣*颜色#白色`, see
    ml.copy.attributes) the copy is written from; `style`: the copy family asked for
    (audience, benefit_first, deal, price; `example` for real copy), so that the variants
    of one product ask for different lines and one of them speaks to the segment;
    `exemplar`: real copy of the most similar product (retrieve-and-edit, Guu et al. 2018:
    the model learns to keep what fits and rewrite the rest)."""
    listed = f" | attributes={attributes}" if attributes else ""
    asked = f" | style={style}" if style else ""
    shown = f" | ref={exemplar}" if exemplar else ""
    return (f"{BOS}lang={language} | segment={segment} | interests={', '.join(interests)} | category={category} | "
            f"brand={brand} | sale={'yes' if on_sale else 'no'}{listed}{asked}{shown} {COPY}")


def product_attributes(row: dict, language: str, vocabulary: AttributeVocabulary | None) -> str:
    """The product's attribute list: its own (an `attributes` column in the AdvertiseGen
    format) or, failing that, the checked attribute values its title and description in
    `language` state (a demo phone titled "... 粉色" is 颜色#粉色)."""
    own = row.get("attributes")
    if isinstance(own, str) and own.strip():
        return own.strip()
    if vocabulary is None:
        return ""
    return format_attributes(dict.fromkeys(vocabulary.stated(product_text(row, language), language)))


def product_text(row: dict, language: str) -> str:
    """What the product's own listing says, in `language`: what copy may state about it."""
    columns = ("title_zh", "description_zh") if language == "zh" else ("title_en", "description_en")
    return " ".join(str(row.get(c) or "") for c in columns)


def review_facts(row: dict, language: str, vocabulary: AttributeVocabulary) -> dict:
    """What a line for this product is reviewed against: its catalogue facts (slots,
    numbers), its attribute map and its own listing's text."""
    return {**product_facts(row, language), "product_text": product_text(row, language),
            "attributes": attribute_map(parse_attributes(product_attributes(row, language, vocabulary)))}


class FactsByProduct:
    """`review_facts` once per product and language: every line written for a product in a
    language (its segments x variants) is reviewed against the same facts."""

    def __init__(self, vocabulary: AttributeVocabulary):
        self.vocabulary, self._facts = vocabulary, {}

    def __call__(self, row: dict, language: str) -> dict:
        key = (row["item_id"], language)
        if key not in self._facts:
            self._facts[key] = review_facts(row, language, self.vocabulary)
        return self._facts[key]


def benefits_for(row: dict, language: str) -> list[str]:
    """Benefit phrases for the product: its sub-category's when it has its own (a tent is
    not a training aid), else its top category's, else ones that fit any product."""
    by_l2 = BENEFITS_BY_L2.get(row.get("category_l2") or "")
    if by_l2:
        return by_l2[language]
    top = row.get("category_l1") if row.get("category_l1") in BENEFITS else "_any"
    return BENEFITS[top][language]


def styles_for(on_sale: bool) -> list[str]:
    """The families the variants of one product cycle through: variant 0 speaks to the
    segment, variant 1 states the offer (the discount, else the price), variant 2 the
    benefit; two variants are already a real choice for the bandit."""
    return ["audience", "deal" if on_sale else "price", "benefit_first"]


@dataclass
class CorpusSettings:
    per_product: int = 2
    held_out_share: float = 0.1
    seed: int = 0


def build_corpus(products: pd.DataFrame, segment_interests: dict[str, list[str]],
                 settings: CorpusSettings = CorpusSettings(), examples: pd.DataFrame | None = None) -> pd.DataFrame:
    """Training text for the generator: for each product, segment and language, copy from
    the hand-written families, descriptive words filled in, fact slots left as slots; plus
    the real copy of `examples` (columns example_id, language, attributes, copy, source),
    each written from its attribute list. Held-out rows are whole products or examples
    (the generator is judged on products it never saw)."""
    rng = np.random.default_rng(settings.seed)
    rows = []
    segments = sorted(segment_interests)
    vocabulary = attribute_vocabulary(examples)
    for row in products.to_dict("records"):
        on_sale = bool(row.get("discount_pct") and row["discount_pct"] > 0)
        for language in ("en", "zh"):
            attributes = product_attributes(row, language, vocabulary)
            for _ in range(settings.per_product):
                segment = segments[rng.integers(len(segments))]
                families = [f for f in COPY_FAMILIES[language] if on_sale or f != "deal"]
                family = families[rng.integers(len(families))]
                pattern = COPY_FAMILIES[language][family][rng.integers(len(COPY_FAMILIES[language][family]))]
                benefits = benefits_for(row, language)
                copy = pattern.replace("{benefit}", benefits[rng.integers(len(benefits))]).replace(
                    "{hook}", HOOKS.get(segment, {"en": "", "zh": ""})[language])
                if language == "en":
                    copy = copy[0].upper() + copy[1:]
                rows.append({"item_id": row["item_id"], "language": language, "segment": segment, "family": family,
                             "prompt": prompt(language, segment, segment_interests[segment], row.get("category_l2") or "",
                                              row.get("brand") or "", on_sale, attributes, family),
                             "copy": copy, "attributes": attributes})
    for example in ([] if examples is None else examples.to_dict("records")):
        attributes = example["attributes"]
        category = dict(parse_attributes(attributes)).get("类型", "")
        rows.append({"item_id": f"example:{example['example_id']}", "language": example["language"], "segment": "",
                     "family": "example", "prompt": prompt(example["language"], "", [], category, "", False, attributes,
                                                           "example"),
                     "copy": example["copy"], "attributes": attributes})
    corpus = pd.DataFrame(rows, columns=["item_id", "language", "segment", "family", "prompt", "copy", "attributes"])
    held = held_out_products(corpus["item_id"].unique(), settings.held_out_share, settings.seed)
    corpus["split"] = np.where(corpus["item_id"].isin(held), "held_out", "train")
    return corpus


def attribute_vocabulary(examples: pd.DataFrame | None) -> AttributeVocabulary:
    """The checked attribute values the copy examples use, plus the built-in ones."""
    rows = [] if examples is None or examples.empty else list(zip(examples["language"], examples["attributes"]))
    return AttributeVocabulary.build(rows)


def held_out_products(item_ids, share: float, seed: int) -> set:
    """Products whose copy is held out: a keyed hash of each id below `share`, so a
    product keeps its side as the catalogue grows or shrinks. A generator trained on an
    earlier corpus then never saw a later corpus's held-out lines (same seed and share),
    which is what lets the gate re-score the champion on them. At least one product."""
    ids = [str(i) for i in item_ids]
    if not ids:
        return set()
    u = np.array([int.from_bytes(hashlib.blake2b(f"{seed}:{i}".encode(), digest_size=8).digest(), "big") / 2.0 ** 64
                  for i in ids])
    held = {i for i, x in zip(ids, u) if x < share}
    return held or {ids[int(np.argmin(u))]}


def score(text: str, language: str, interests: list[str], channel_range: tuple[int, int]) -> float:
    """A simple ranking of passing candidates: length close to the middle of the channel's
    range, a word of the segment's interests or hook, and little repetition."""
    low, high = channel_range
    middle = (low + high) / 2
    length_fit = 1.0 - min(abs(len(text) - middle) / middle, 1.0)
    tokens = list(text.replace(" ", "")) if language == "zh" else text.lower().split()
    bigrams = list(zip(tokens, tokens[1:]))
    variety = len(set(bigrams)) / len(bigrams) if bigrams else 0.0
    relevance = float(any(i.lower().split()[0] in text.lower() for i in interests if i))
    return round(0.5 * length_fit + 0.3 * variety + 0.2 * relevance, 4)


def _decode(decoder, sampling, prompts: list[str], batch_size: int, seed: int, log=print,
            blocked: list[list[int]] | None = None) -> list[str]:
    texts: list[str] = []
    for start in range(0, len(prompts), batch_size):
        ids = decoder.generate(prompts[start:start + batch_size], dataclasses.replace(sampling, seed=seed + start),
                               blocked=None if blocked is None else blocked[start:start + batch_size])
        texts += [decoder.tokenizer.decode(t, skip_special_tokens=True).strip() for t in ids]
        if (start // batch_size) % 20 == 0:
            log(f"generated {min(start + batch_size, len(prompts)):,} / {len(prompts):,} candidates")
    return texts


# Prompts per shard on a cluster, in batches: each batch's sampling seed is the run's seed
# plus the batch's offset in the whole run, so a shard that knows its offset draws exactly
# what the single-process path draws.
SHARD_BATCHES = 8


@dataclass(frozen=True)
class DecoderFiles:
    """The champion generator's folder (onnx/decoder.onnx, tokenizer, config): what each
    worker loads (once) to generate its shard."""

    folder: str


def _load_decoder(files: DecoderFiles, threads: int):
    from transformers import AutoConfig, AutoTokenizer

    from ecom_assets.ml.copy.generator import OnnxDecoder

    folder = Path(files.folder)
    return OnnxDecoder.for_model(folder / "onnx" / "decoder.onnx", AutoTokenizer.from_pretrained(folder),
                                 AutoConfig.from_pretrained(folder), threads)


_cached_decoder = cached_per_process(_load_decoder)


def _decode_shard(shard, files: DecoderFiles, sampling, batch_size: int, seed: int, threads: int) -> list[str]:
    start, prompts, blocked = shard
    return _decode(_cached_decoder(files, threads), sampling, prompts, batch_size, seed + start, lambda _: None, blocked)


def _decode_all(decoder, sampling, prompts: list[str], batch_size: int, seed: int, log, blocked,
                runner: Runner, decoder_files: DecoderFiles | None) -> list[str]:
    if isinstance(runner, LocalRunner) or not prompts:
        return _decode(decoder, sampling, prompts, batch_size, seed, log, blocked)
    if decoder_files is None:
        raise ValueError("generating on a cluster needs the generator's folder (decoder_files)")
    shards = [(a, prompts[a:b], blocked[a:b]) for a, b in shard_bounds(len(prompts), batch_size * SHARD_BATCHES,
                                                                          align=batch_size)]
    parts = runner.map(_decode_shard, shards, decoder_files, sampling, batch_size, seed, cpus_per_worker(runner))
    log(f"generated {len(prompts):,} candidates in {len(shards)} shards on {runner.name}")
    return [text for part in parts for text in part]


def write_copy(products: pd.DataFrame, interests: dict[str, list[str]], templates: list[dict], languages: list[str],
               variants: int, decoder, sampling, batch_size: int, log=print,
               vocabulary: AttributeVocabulary | None = None, redraws: int = 2, runner: Runner | None = None,
               decoder_files: DecoderFiles | None = None) -> pd.DataFrame:
    """Generate, fill, review and score every candidate; one row per candidate.

    The variants of one product, segment and language ask for different families (the
    first always the segment's), and none may repeat another: a candidate whose reviewed
    text a sibling already has is drawn again (`redraws` times, with new seeds) and, if it
    still repeats, kept as rejected with the reason. `vocabulary` turns on the attribute
    check (ml.copy.attributes) of the review. With a `runner` other than the local one the
    first draw of every candidate runs in shards as its tasks, each worker loading the
    generator from `decoder_files`; the candidates are the same."""
    vocabulary = vocabulary if vocabulary is not None else AttributeVocabulary.build()
    jobs, blocked = [], []
    for row in products.to_dict("records"):
        on_sale = bool(row.get("discount_pct") and row["discount_pct"] > 0)
        styles = styles_for(on_sale)
        for language in languages:
            attributes = product_attributes(row, language, vocabulary)
            # Constrained decoding: no token that spells an attribute value this product does not have.
            banned = blocked_tokens(decoder.tokenizer, vocabulary, language, attribute_map(parse_attributes(attributes)),
                                    product_text(row, language))
            for segment, seg_interests in interests.items():
                jobs += [(row, language, segment, seg_interests, v,
                          prompt(language, segment, seg_interests, row.get("category_l2") or "", row.get("brand") or "",
                                 on_sale, attributes, styles[v % len(styles)])) for v in range(variants)]
                blocked += [banned] * variants
    texts = _decode_all(decoder, sampling, [j[5] for j in jobs], batch_size, sampling.seed, log, blocked,
                        runner or LocalRunner(), decoder_files)
    facts = FactsByProduct(vocabulary)
    rows = [_candidate(job, generated, templates, vocabulary, facts(job[0], job[1])) for job, generated in zip(jobs, texts)]
    for attempt in range(1, redraws + 1):
        repeats = _repeats(rows)
        if not repeats:
            break
        redrawn = _decode(decoder, sampling, [jobs[i][5] for i in repeats], batch_size, sampling.seed + 7919 * attempt,
                          log=lambda _: None, blocked=[blocked[i] for i in repeats])
        for i, generated in zip(list(repeats), redrawn):
            rows[i] = _candidate(jobs[i], generated, templates, vocabulary, facts(jobs[i][0], jobs[i][1]))
    for i, first in _repeats(rows).items():
        rows[i] = {**rows[i], "passed": False, "score": 0.0, "facts_stated": [],
                   "reasons": [f"duplicate: the same text as variant {first} of this product, segment and language"]}
    return pd.DataFrame(rows)


def _repeats(rows: list[dict]) -> dict[int, int]:
    """{index: the variant it repeats} for each passing candidate whose text an earlier
    passing sibling already has."""
    first, out = {}, {}
    for i, r in enumerate(rows):
        if not r["passed"]:
            continue
        key = (r["item_id"], r["segment"], r["language"], r["text"])
        if key in first:
            out[i] = first[key]
        else:
            first[key] = r["variant"]
    return out


def _candidate(job, generated: str, templates: list[dict], vocabulary: AttributeVocabulary, facts: dict) -> dict:
    row, language, segment, seg_interests, variant, _ = job
    options = [t for t in templates if t["language"] == language] or [{"template_id": "plain", "text": "{copy}",
                                                                          "channel": "feed", "language": language}]
    # Templates whose slots this product can fill (a discount line only for products on sale);
    # when none can, the first one's error is the candidate's reason.
    usable = [t for t in options if all(facts.get(s) for s in slots_of(t["text"]) if s != "copy")] or options[:1]
    template = usable[variant % len(usable)]
    try:
        text = apply_template(template, fill(generated, facts, "generated", row["item_id"]), facts, row["item_id"])
        verdict = review(text, facts, language, template.get("channel", "feed"), vocabulary=vocabulary)
        text, passed, reasons = verdict.text, verdict.passed, verdict.reasons
    except TemplateError as exc:
        text, passed, reasons = generated, False, [f"template: {exc}"]
    return {"item_id": row["item_id"], "segment": segment, "variant": variant, "language": language,
            "text": text, "template_id": template["template_id"], "passed": passed, "reasons": reasons,
            # What a reviewer checks a published line against: each catalogue fact it states.
            "facts_stated": facts_stated(text, facts, language) if passed else [],
            "score": score(text, language, seg_interests, CHANNELS[template.get("channel", "feed")]) if passed else 0.0}
