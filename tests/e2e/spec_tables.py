"""The catalogue as SPEC §2–4 and §12 and the service guide define it.

Written by hand from /work/shared/SPEC.md and the original guide
(seed/scca-service-guide-v1.0.zh.txt), never from the API or the database seed:
the e2e tests compare the live catalogue and quotes against these tables.
"""

BUSINESS_CODES = ["new", "renew", "reissue", "change", "revoke", "unlock"]
CERT_CODES = ["org", "personal"]
PAID = {"new", "renew", "reissue"}
WITH_YEARS = {"new", "renew"}          # years 1..5 required, seals 0..10 allowed
YEARS_MIN, YEARS_MAX = 1, 5
SEALS_MAX = 10

# SPEC §2 (and CONTRACT.md's enumerations). The descriptions are the guide's own sentences.
BUSINESS_TYPES = {
    "new": dict(
        name="新办", settlement="pay", fulfilment="ship",
        requires_certificate=False, requires_usb_key=False,
        eligibility="any_time", renew_window_days=None, validity="new_term",
        fee_items=["opening", "annual", "seal_annual"],
        guide="用户首次申请数字证书或额外增加数字证书"),
    "renew": dict(
        name="更新", settlement="pay", fulfilment="online",
        requires_certificate=True, requires_usb_key=True,
        eligibility="renew_window", renew_window_days=60, validity="extend",
        fee_items=["annual", "seal_annual"],
        guide="证书即将到期或已到期时申请延长有效期（证书到期前60天起可办理更新），办理更新时需携带数字证书USBKey"),
    "reissue": dict(
        name="补办", settlement="pay", fulfilment="ship",
        requires_certificate=True, requires_usb_key=False,
        eligibility="certificate_valid", renew_window_days=None, validity="same_as_original",
        fee_items=["reissue"],
        guide="证书在有效期内丢失或损坏时申请补办数字证书，补办的数字证书（含电子印章）有效期同原有效期"),
    "change": dict(
        name="变更", settlement="verify", fulfilment="online",
        requires_certificate=True, requires_usb_key=True,
        eligibility="certificate_valid", renew_window_days=None, validity="same_as_original",
        fee_items=[],
        guide="证书主体信息（单位名称、证照号、个人姓名）变更时申请变更业务，办理变更时需携带数字证书USBKey"),
    "revoke": dict(
        name="吊销", settlement="verify", fulfilment="revoke",
        requires_certificate=True, requires_usb_key=False,
        eligibility="certificate_valid", renew_window_days=None, validity="none",
        fee_items=[],
        guide="证书遗失或不再使用时申请吊销数字证书"),
    "unlock": dict(
        name="解锁", settlement="verify", fulfilment="unlock",
        requires_certificate=True, requires_usb_key=False,
        eligibility="certificate_valid", renew_window_days=None, validity="none",
        fee_items=[],
        guide="证书密码忘记或锁定时申请重置密码"),
}

CERTIFICATE_TYPES = {
    "org": dict(name="企业/机构证书（含电子印章）",
                subject_fields=["unit_name", "credit_code"]),
    "personal": dict(name="个人证书（含电子印章）",
                     subject_fields=["holder_name", "holder_id_number", "unit_name", "credit_code"]),
}

# SPEC §3's material kinds (the business × certificate matrix below uses only these) ...
MATRIX_KIND_CODES = ["application_form", "business_license", "holder_id", "handler_id"]
# ... and the one issue 4 adds: a PNG scan of the seal impression, required only when
# e-seals are asked for (seals > 0), so it is in no row of the matrix.
SEAL_IMPRESSION = "seal_impression"
SEAL_IMPRESSION_TYPES = ["image/png"]
MATERIAL_KIND_CODES = MATRIX_KIND_CODES + [SEAL_IMPRESSION]

# The documents as the guide names them.
APPLICATION_FORM_TITLE = {
    "org": "《企业/机构数字证书及电子印章业务申请表》",
    "personal": "《个人数字证书及电子印章业务申请表》",
}
MATERIAL_TITLE = {
    "business_license": "单位营业执照复印件",
    "holder_id": "证书持有人有效身份证件复印件",
    "handler_id": "证书经办人有效身份证件复印件",
}

# SPEC §3's matrix: (business, certificate) -> material kinds, in the guide's order.
_FULL = {"org": ["application_form", "business_license", "handler_id"],
         "personal": ["application_form", "business_license", "holder_id", "handler_id"]}
_SHORT = {"org": ["application_form", "handler_id"],
          "personal": ["application_form", "handler_id"]}
REQUIRED_MATERIALS = {
    (b, c): (_FULL if b in ("new", "renew", "change") else _SHORT)[c]
    for b in BUSINESS_CODES for c in CERT_CODES
}


def required_materials(business, cert, seals=0):
    """The material kinds an application needs: SPEC §3's row, plus the seal impression
    when e-seals are asked for (only new and renew take seals)."""
    kinds = list(REQUIRED_MATERIALS[(business, cert)])
    if seals and business in WITH_YEARS:
        kinds.append(SEAL_IMPRESSION)
    return kinds


def material_title(kind, cert):
    return APPLICATION_FORM_TITLE[cert] if kind == "application_form" else MATERIAL_TITLE[kind]


MATERIAL_RULES = {
    "accepted_types": ["application/pdf", "image/jpeg", "image/png"],
    "official_seal_required": True,
    "official_seal_note": "资料均须加盖单位公章(鲜章)",
}

# SPEC §4, in fen: (fee code, certificate type) -> amount.
FEES_FEN = {
    ("opening", "org"): 10000, ("annual", "org"): 20000,
    ("reissue", "org"): 5000, ("seal_annual", "org"): 10000,
    ("opening", "personal"): 10000, ("annual", "personal"): 10000,
    ("reissue", "personal"): 5000, ("seal_annual", "personal"): 10000,
}
FEE_CODES = ["opening", "annual", "reissue", "seal_annual"]
FEE_PER_YEAR = {"opening": False, "annual": True, "reissue": False, "seal_annual": True}
FEE_PER_SEAL = {"opening": False, "annual": False, "reissue": False, "seal_annual": True}
# What the guide's fee table says, as substrings that the item's name/note must carry.
FEE_NOTE_HAS = {
    ("opening", "org"): "每证100元，为一次性收取，含介质费",
    ("opening", "personal"): "每证100元，为一次性收取，含介质费",
    ("annual", "org"): "200元/张/年",
    ("annual", "personal"): "100元/张/年",
    ("reissue", "org"): "50元/张/次",
    ("reissue", "personal"): "50元/张/次",
    ("seal_annual", "org"): "100元/张/年",
    ("seal_annual", "personal"): "100元/张/年",
}
FEE_NAME_HAS = {"opening": "开户费", "annual": "年服务费", "reissue": "补办", "seal_annual": "电子印章"}

# The guide's online flow (在线办理流程), step titles.
ONLINE_STEPS = ["选择业务类型", "提交申请", "在线缴费或验证", "接受证书", "发票获取"]

COUNTER_ADDRESS = "成都市武侯区锦云西二巷南侧成都交易所大厦2楼"
COUNTER_OPEN_DAYS = "仅周二"
COUNTER_WEEKDAYS = [2]           # ISO weekday: Tuesday

SUPPORT = {
    "website": "www.scca.com.cn",
    "hotline": "400-028-1130",
    "hotline_note": "农交所专线接通后按5",
    "qq": "4008676868",
}


def quote_lines(business, cert, years=None, seals=0):
    """Expected quote lines [(fee_code, unit_fen, quantity)], computed from FEES_FEN."""
    fee = lambda code: FEES_FEN[(code, cert)]
    lines = []
    if business == "new":
        lines.append(("opening", fee("opening"), 1))
    if business in WITH_YEARS:
        lines.append(("annual", fee("annual"), years))
        if seals:
            lines.append(("seal_annual", fee("seal_annual"), years * seals))
    if business == "reissue":
        lines.append(("reissue", fee("reissue"), 1))
    return lines


def quote_total(business, cert, years=None, seals=0):
    return sum(unit * qty for _, unit, qty in quote_lines(business, cert, years, seals))
