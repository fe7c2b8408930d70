"""Fixed user-facing texts in Arabic and English (what the bot says without the LLM)."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "not_in_article": {
        "en": "The article does not say.",
        "ar": "لا يذكر المقال ذلك.",
    },
    "unsupported_language": {
        "en": "I can answer in Arabic or English only. Please ask your question in one of them.",
        "ar": "أستطيع الإجابة بالعربية أو الإنجليزية فقط. من فضلك اطرح سؤالك بإحداهما.",
    },
    "empty_question": {
        "en": "Please write a question about the article.",
        "ar": "من فضلك اكتب سؤالاً عن المقال.",
    },
    "too_long": {
        "en": "Your message is too long ({length} characters). Please keep questions under {limit} characters.",
        "ar": "رسالتك طويلة جداً ({length} حرفاً). من فضلك اجعل السؤال أقل من {limit} حرف.",
    },
    "unconfirmed": {
        "en": "I could not confirm an answer to that from the article, so I will not guess.",
        "ar": "لم أستطع التحقق من إجابة لذلك من نص المقال، لذا لن أخمّن.",
    },
    "no_sources": {
        "en": "There are no sources yet: ask a question first.",
        "ar": "لا توجد مصادر بعد: اطرح سؤالاً أولاً.",
    },
    "sources_header": {"en": "Sources for the last answer:", "ar": "مصادر الإجابة الأخيرة:"},
    "reset_done": {"en": "Conversation forgotten. Ask me anything about the article.",
                   "ar": "تم مسح المحادثة. اسألني أي شيء عن المقال."},
    "error": {"en": "Sorry, something went wrong while answering. Please try again.",
              "ar": "عذراً، حدث خطأ أثناء الإجابة. من فضلك حاول مرة أخرى."},
    "summary_title": {"en": "Summary", "ar": "الملخص"},
    "passage": {"en": "passage", "ar": "المقطع"},
}


def message(key: str, lang: str, **values: object) -> str:
    texts = MESSAGES[key]
    text = texts.get(lang) or texts["en"]
    return text.format(**values) if values else text


def bilingual(key: str, **values: object) -> str:
    """Arabic first, then English: for when we do not know the user's language."""
    return f"{message(key, 'ar', **values)}\n{message(key, 'en', **values)}"
