"""The codes stored in the database and their words in the UI, in one place.

Every page, export and chart takes its labels from here, so a channel is called the
same thing on a poster, the evaluator's breakdown and a spreadsheet. The English words
are in translations/ (the labels are msgids, wrapped with lazy_gettext where shown).
"""

# How a response came in (responses.channel, links.channel).
CHANNELS = {
    "qr": "通用二维码", "poster": "海报二维码", "flyer": "宣传单", "door": "入户调查", "phone": "电话回访",
    "wechat": "微信群", "household": "户专属链接", "paper": "纸质问卷", "import": "导入", "api": "接口",
}
# Channels a staff member records a visit or a call with.
STAFF_CHANNELS = {"door": "入户调查", "phone": "电话回访"}
# Who answered (responses.respondent_type).
RESPONDENT_TYPES = {"self": "老人本人", "proxy": "家属或照护人代答", "assisted": "工作人员协助填写",
                    "public": "社会公众", "unknown": "未注明"}
# The outcome of a visit or call (visits.outcome); the codes of submission_schema.OUTCOMES.
OUTCOMES = {"completed": "完成访问", "not_home": "不在家", "refused": "拒访", "unreachable": "无法联系",
            "deceased": "已故", "moved": "迁出"}
LIVING_ALONE = {"1": "独居", "0": "非独居", "-1": "未注明"}
# The fields results can be broken down by, as the evaluator's pages name them.
DIMENSIONS = {"site": "社区", "channel": "渠道", "respondent_type": "答题人", "age_band": "年龄段",
              "living_alone": "是否独居"}


def label(table, code):
    """The word for `code` in `table` (one of the dicts above); the code itself if unknown."""
    return table.get(code, code) if code is not None else ""
