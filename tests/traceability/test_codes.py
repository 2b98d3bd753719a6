"""The code book: random, Crockford base32 with a mod-37 check symbol, forgiving to read."""

from __future__ import annotations

import pytest

from app.traceability import codes as codebook


class TestCodeBook:
    def test_codes_carry_at_least_64_random_bits_and_are_never_sequential(self):
        issued = [codebook.new_code() for _ in range(2000)]
        assert codebook.RANDOM_BITS >= 64
        assert len(set(issued)) == len(issued)
        assert all(len(c) == codebook.CODE_LENGTH and codebook.normalize(c) == c for c in issued)
        # Even the leading symbol (the highest bits) varies: nothing counts up.
        assert len({c[0] for c in issued}) >= 28

    def test_check_symbol_is_the_value_mod_37(self):
        value = 123456789
        code = codebook.code_from_int(value)
        assert code[-1] == codebook.CHECK_ALPHABET[value % 37]
        assert codebook.code_from_int(37 * 5 + 36)[-1] == "U"

    def test_every_single_symbol_change_is_rejected(self):
        code = codebook.new_code()
        for position in range(len(code)):
            for symbol in codebook.CHECK_ALPHABET:
                if symbol == code[position]:
                    continue
                if position < codebook.DATA_LENGTH and symbol not in codebook.ALPHABET:
                    continue
                typo = code[:position] + symbol + code[position + 1 :]
                assert codebook.normalize(typo) is None, (code, typo)

    def test_swapping_adjacent_symbols_is_rejected(self):
        code = codebook.new_code()
        for i in range(codebook.DATA_LENGTH - 1):
            if code[i] == code[i + 1]:
                continue
            swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
            assert codebook.normalize(swapped) is None

    def test_reading_is_forgiving_as_crockford_intends(self):
        code = codebook.code_from_int(0o1234567)  # contains 0s and 1s
        typed = codebook.pretty(code).lower().replace("0", "o").replace("1", "l")
        assert codebook.normalize(typed) == code

    @pytest.mark.parametrize(
        "raw", ["", "x", "A" * 300, "' OR 1=1 --", "0123456789ABCU!", "UUUUUUUUUUUUU0", "é" * 14]
    )
    def test_malformed_input_is_refused(self, raw):
        assert codebook.normalize(raw) is None
