"""The trainer's pure logic: dataset in, model bundle and plain-English verdict out."""

from services.trainer.domain.training import TrainingResult, train_model

__all__ = ["TrainingResult", "train_model"]
