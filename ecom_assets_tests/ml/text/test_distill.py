"""Multilingual knowledge distillation: the student learns to embed a Chinese text where
the teacher embeds its English one."""

import numpy as np
import pytest

from ecom_assets.ml.text.distill import DistillConfig, distill
from ecom_assets.ml.text.encoder import TorchEncoder
from ecom_assets.ml.text.vocabulary import extend_vocabulary

PAIRS = [("blue canvas sneakers", "蓝色帆布鞋"), ("green tote bag", "绿色托特包"), ("white running shoes", "白色跑鞋"),
         ("black leather wallet", "黑色皮革钱包"), ("red summer dress", "红色夏季连衣裙"), ("grey wool scarf", "灰色羊毛围巾"),
         ("pink lipstick", "粉色口红"), ("beige linen shirt", "米色亚麻衬衫")]


def _student_and_teacher(checkpoint):
    teacher, student = TorchEncoder.load(str(checkpoint)), TorchEncoder.load(str(checkpoint))
    extension = extend_vocabulary(student, [zh for _, zh in PAIRS])
    return student, teacher, student.tokenizer.convert_tokens_to_ids(extension.added)


def _error(student, teacher) -> float:
    zh = student.encode([zh for _, zh in PAIRS])
    en = teacher.encode([en for en, _ in PAIRS])
    return float(((zh - en) ** 2).sum(axis=1).mean())


def test_new_token_distillation_moves_chinese_onto_the_teacher_and_leaves_english_exactly(tiny_checkpoint):
    student, teacher, new_ids = _student_and_teacher(tiny_checkpoint)
    english = [en for en, _ in PAIRS]
    before_en, before_error = student.encode(english), _error(student, teacher)
    result = distill(student, teacher, PAIRS, DistillConfig(train="new_tokens", epochs=15, batch_size=4, learning_rate=1e-2),
                     log=lambda m: None, new_token_ids=new_ids)
    assert result.valid_pairs == 0 and result.train_pairs == len(PAIRS), "too few pairs to hold any out"
    assert result.epochs_run == 15 and result.best_epoch == 15
    assert _error(student, teacher) < 0.5 * before_error
    np.testing.assert_array_equal(student.encode(english), before_en)  # no English token moved
    # The gradient mask is gone afterwards: a later fine-tuning trains every row again.
    weight = student.encoder.transformer.get_input_embeddings().weight
    assert weight.requires_grad and not weight._backward_hooks


def test_new_token_distillation_needs_the_new_ids(tiny_checkpoint):
    student, teacher, _ = _student_and_teacher(tiny_checkpoint)
    with pytest.raises(ValueError, match="ids of the tokens"):
        distill(student, teacher, PAIRS, DistillConfig(train="new_tokens"), log=lambda m: None)


def test_held_out_pairs_stop_early_and_keep_the_best_epoch(tiny_checkpoint):
    student, teacher, _ = _student_and_teacher(tiny_checkpoint)
    pairs = PAIRS * 4  # 32 pairs: 0.25 of them held out
    config = DistillConfig(train="all", epochs=3, batch_size=8, learning_rate=5.0, valid_share=0.25, min_valid_pairs=4,
                           patience=1)
    result = distill(student, teacher, pairs, config, log=lambda m: None)
    assert result.valid_pairs == 8 and result.train_pairs == 24
    history = {h["epoch"]: h for h in result.history}
    assert set(history[0]) >= {"mse", "recall_at_1", "mrr"}
    best = min(history.values(), key=lambda h: h["mse"])
    assert result.best_epoch == best["epoch"]
    assert result.after["mse"] == pytest.approx(best["mse"], rel=1e-4)  # the best epoch's weights came back
