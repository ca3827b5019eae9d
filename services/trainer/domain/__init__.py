"""The trainer's pure logic: dataset in, model bundle and plain-English verdict out."""

from services.trainer.domain.training import StoppedBeforeAnyModel, TrainingResult, train_model

__all__ = ["StoppedBeforeAnyModel", "TrainingResult", "train_model"]
