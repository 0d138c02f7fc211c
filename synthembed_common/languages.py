"""Language names as the generator writes them (data_generation.placeholders.XLMR_LANGUAGES, the XLM-R list the paper
samples from, Wang et al., 2024, section 3.1) -> the ISO 639-1 codes Hub cards use in `language:`.

Both cards read it: the dataset card (the rows' `language` column) and the model card (the training data's). A name
outside the table is not guessed: `to_iso_codes` returns it apart, and the cards say which were left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_TABLE = """\
Afrikaans af, Albanian sq, Amharic am, Arabic ar, Armenian hy, Assamese as, Azerbaijani az, Basque eu,
Belarusian be, Bengali bn, Bosnian bs, Breton br, Bulgarian bg, Burmese my, Catalan ca, Chinese zh,
Croatian hr, Czech cs, Danish da, Dutch nl, English en, Esperanto eo, Estonian et, Filipino tl, Finnish fi,
French fr, Galician gl, Georgian ka, German de, Greek el, Gujarati gu, Hausa ha, Hebrew he, Hindi hi,
Hungarian hu, Icelandic is, Indonesian id, Irish ga, Italian it, Japanese ja, Javanese jv, Kannada kn,
Kazakh kk, Khmer km, Korean ko, Kurdish (Kurmanji) ku, Kyrgyz ky, Lao lo, Latin la, Latvian lv, Lithuanian lt,
Macedonian mk, Malagasy mg, Malay ms, Malayalam ml, Marathi mr, Mongolian mn, Nepali ne, Norwegian no,
Oriya or, Oromo om, Pashto ps, Persian fa, Polish pl, Portuguese pt, Punjabi pa, Romanian ro, Russian ru,
Sanskrit sa, Scottish Gaelic gd, Serbian sr, Sindhi sd, Sinhala si, Slovak sk, Slovenian sl, Somali so,
Spanish es, Sundanese su, Swahili sw, Swedish sv, Tamil ta, Telugu te, Thai th, Turkish tr, Ukrainian uk,
Urdu ur, Uyghur ug, Uzbek uz, Vietnamese vi, Welsh cy, Western Frisian fy, Xhosa xh, Yiddish yi"""
# Filipino -> tl: XLM-R's CC-100 code for it (Filipino itself has only the ISO 639-2/3 code `fil`).
ISO_639_1 = dict(item.strip().rsplit(" ", 1) for item in _TABLE.replace("\n", " ").split(","))
_CODES = set(ISO_639_1.values())
_BY_LOWER = {name.lower(): code for name, code in ISO_639_1.items()}
_CODE = re.compile(r"^[a-z]{2,3}$")


def to_iso_code(name: str | None) -> str | None:
    """The ISO 639-1 code of a language name from the table (any case), a code passed through as it is, or None."""
    if not name:
        return None
    name = str(name).strip()
    if name.lower() in _BY_LOWER:
        return _BY_LOWER[name.lower()]
    return name if name in _CODES or _CODE.match(name) else None


def to_iso_codes(names: Iterable[str | None]) -> tuple[list[str], list[str]]:
    """(codes in first-seen order without repeats, the names that have none); empty values are skipped."""
    codes: list[str] = []
    unknown: list[str] = []
    for name in names:
        if not name:
            continue
        code = to_iso_code(name)
        if code is None:
            if name not in unknown:
                unknown.append(str(name))
        elif code not in codes:
            codes.append(code)
    return codes, unknown
