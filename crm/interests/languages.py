"""Language codes of interest profiles: ISO 639-2 as MARC records carry them (vie, eng, fre…).

MARC 008/35-37 and 041 use the bibliographic (B) codes, so profiles store those and the matching
engine compares like with like. Two-letter ISO 639-1 codes (vi, en) and the terminology (T)
codes (fra, deu, zho…) are accepted and turned into the B code.
"""

from functools import cache

from babel import Locale

#: ISO 639-1 → ISO 639-2/B.
_TWO_TO_B = dict(
    pair.split(":") for pair in (
    "aa:aar ab:abk ae:ave af:afr ak:aka am:amh an:arg ar:ara as:asm av:ava ay:aym az:aze ba:bak "
    "be:bel bg:bul bi:bis bm:bam bn:ben bo:tib br:bre bs:bos ca:cat ce:che ch:cha co:cos cr:cre "
    "cs:cze cu:chu cv:chv cy:wel da:dan de:ger dv:div dz:dzo ee:ewe el:gre en:eng eo:epo es:spa "
    "et:est eu:baq fa:per ff:ful fi:fin fj:fij fo:fao fr:fre fy:fry ga:gle gd:gla gl:glg gn:grn "
    "gu:guj gv:glv ha:hau he:heb hi:hin ho:hmo hr:hrv ht:hat hu:hun hy:arm hz:her ia:ina id:ind "
    "ie:ile ig:ibo ii:iii ik:ipk io:ido is:ice it:ita iu:iku ja:jpn jv:jav ka:geo kg:kon ki:kik "
    "kj:kua kk:kaz kl:kal km:khm kn:kan ko:kor kr:kau ks:kas ku:kur kv:kom kw:cor ky:kir la:lat "
    "lb:ltz lg:lug li:lim ln:lin lo:lao lt:lit lu:lub lv:lav mg:mlg mh:mah mi:mao mk:mac ml:mal "
    "mn:mon mr:mar ms:may mt:mlt my:bur na:nau nb:nob nd:nde ne:nep ng:ndo nl:dut nn:nno no:nor "
    "nr:nbl nv:nav ny:nya oc:oci oj:oji om:orm or:ori os:oss pa:pan pi:pli pl:pol ps:pus pt:por "
    "qu:que rm:roh rn:run ro:rum ru:rus rw:kin sa:san sc:srd sd:snd se:sme sg:sag si:sin sk:slo "
    "sl:slv sm:smo sn:sna so:som sq:alb sr:srp ss:ssw st:sot su:sun sv:swe sw:swa ta:tam te:tel "
    "tg:tgk th:tha ti:tir tk:tuk tl:tgl tn:tsn to:ton tr:tur ts:tso tt:tat tw:twi ty:tah ug:uig "
    "uk:ukr ur:urd uz:uzb ve:ven vi:vie vo:vol wa:wln wo:wol xh:xho yi:yid yo:yor za:zha zh:chi "
    "zu:zul "
    ).split()
)
#: ISO 639-2/T → ISO 639-2/B where they differ.
_T_TO_B = {
    "sqi": "alb", "hye": "arm", "eus": "baq", "mya": "bur", "zho": "chi", "ces": "cze", "nld": "dut", "fra": "fre",
    "kat": "geo", "deu": "ger", "ell": "gre", "isl": "ice", "mkd": "mac", "mri": "mao", "msa": "may", "fas": "per",
    "ron": "rum", "slk": "slo", "bod": "tib", "cym": "wel",
}
#: Codes for no particular language: multiple, undetermined, no linguistic content, uncoded.
_SPECIAL = {"mul", "und", "zxx", "mis"}


@cache
def _known_three_letter() -> frozenset[str]:
    return frozenset(
        {code for code in Locale("en").languages if len(code) == 3 and code.isalpha()}
        | set(_TWO_TO_B.values()) | _SPECIAL
    )


def normalize_language(value: str) -> str | None:
    """The ISO 639-2/B code for a language code, or None when it is not one."""
    code = value.strip().lower()
    if len(code) == 2:
        return _TWO_TO_B.get(code)
    if len(code) == 3 and code.isalpha():
        code = _T_TO_B.get(code, code)
        return code if code in _known_three_letter() else None
    return None
