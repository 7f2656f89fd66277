"""The word classifier: learns from labelled sentences, marks negation, never downloads."""

from __future__ import annotations

import numpy as np
import pytest

from models.domain import EMOTIONS
from tasks.emotion.bayes import NaiveBayes, features, read_labelled, shipped_model


def test_features_are_words_negated_words_and_word_pairs():
    assert features("I'm not happy, really!") == [
        "i'm", "not", "not_happy", "really", "!_mark",
        "i'm|not", "not|not_happy", "not_happy|really", "really|!_mark"]


def test_it_learns_which_words_go_with_which_emotion():
    model = NaiveBayes.train(
        ["the puppy makes me smile", "what a lovely smile", "the rain makes me cry",
         "i cry every night"], ["joy", "joy", "sadness", "sadness"])
    assert model.predict("a big smile") == "joy"
    assert model.predict("why do i cry") == "sadness"
    p = model.probabilities("smile")
    assert p.shape == (len(EMOTIONS),) and p.sum() == pytest.approx(1.0)
    # Emotions with no training sentence keep a small, equal share.
    assert p[EMOTIONS.index("anger")] == pytest.approx(p[EMOTIONS.index("fear")])


def test_unknown_words_leave_the_prior():
    model = NaiveBayes.train(["good", "bad", "ok"], ["joy", "sadness", "neutral"])
    p = model.probabilities("zyxwv qwerty")
    assert np.allclose(p, np.exp(model.log_prior) / np.exp(model.log_prior).sum())


def test_the_shipped_model_trains_from_packaged_sentences():
    model = shipped_model()
    assert model is shipped_model()  # trained once
    assert model.predict("The package contains two cables and a manual.") == "neutral"
    assert model.predict("My hands were shaking as the footsteps came closer.") == "fear"


@pytest.mark.parametrize("line", ['{"text": "hi", "emotion": "happy"}', '{"emotion": "joy"}'])
def test_bad_training_lines_name_their_line_number(line):
    with pytest.raises(ValueError, match="line 2"):
        read_labelled(['{"text": "fine", "emotion": "neutral"}', line])


def test_training_needs_as_many_labels_as_texts():
    with pytest.raises(ValueError, match="as many labels"):
        NaiveBayes.train(["a", "b"], ["joy"])
