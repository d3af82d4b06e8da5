"""Second read (s9) of cross-tokenizer kd (distill/train/kd/xtok.py): what each compared position
predicts on both sides."""

from distill.logprobs import char_ends
from distill.train.kd.xtok import pair_texts
from tests.test_xtok import bpe


def test_a_token_that_ends_inside_a_character_is_no_boundary_to_pair_at():
    """Byte-level BPE (SmolLM2's `ĠÃ` + `¼` for " ü") can end a token with a space and the first
    byte of the next character: the token after it starts inside "ü". A student that writes the
    space and "ü" apart (`Ġ`, `Ã¼`) must not be compared there with the teacher's `¼`, which
    predicts the rest of a character after text the student has not read; every compared pair
    predicts after the same text on both sides."""
    teacher = bpe(262, ["a ü b ö c ä d é e è f à g ç", "x ü y ö z ä"] * 50)  # merges Ġ + Ã first
    student = bpe(261, ["ü ü ü", "    "] * 50)  # merges Ã + ¼: "ü" whole
    body = "a  ü b"
    text = body + "<|end|>"
    s_ids = student(text, add_special_tokens=False)["input_ids"]
    t_ids = teacher(text, add_special_tokens=False)["input_ids"]
    assert "ĠÃ" in teacher.convert_ids_to_tokens(t_ids)  # the split this is about
    assert "Ã¼" in student.convert_ids_to_tokens(s_ids)
    t_ends = char_ends(teacher, t_ids, text)
    # the partial token's characters are the next one's: its end is where the last whole one ended
    assert t_ends[t_ids.index(teacher.convert_tokens_to_ids("ĠÃ"))] == len("a ")
    pairs = pair_texts(char_ends(student, s_ids, text), t_ends, text, text)
    assert pairs
    dec = dict(clean_up_tokenization_spaces=False)
    for s, t in pairs:
        before = student.decode(s_ids[:s], **dec)
        assert teacher.decode(t_ids[:t], **dec) == before and "\ufffd" not in before
