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
    "example_fallback": {"en": "Summarise the article", "ar": "لخّص المقال"},
    "article_words": {  # an English answer given in the article's own (Arabic) words
        "en": "In the article's own words: «{quote}»",
        "ar": "بكلمات المقال: «{quote}»",
    },
    "summary_translated": {  # ends a summary translated from the article's language (see Engine._generate_summary)
        "en": "(Translated from the Arabic sentence by sentence by the local model; the passage numbers lead to "
              "the original wording: /sources.)",
        "ar": "(ترجمها النموذج المحلي من نص المقال جملةً جملة؛ أرقام المقاطع تدل على النص الأصلي: /sources.)",
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
    "welcome": {
        "en": "Hello! I answer questions about one article, from its text only, in Arabic or English.\n"
              "<b>{title}</b>\nSource: {source}\n\nAsk me, for example: <i>{example}</i>\n"
              "Commands: /summary, /sources, /reset, /cancel, /help",
        "ar": "أهلاً! أجيب عن الأسئلة حول مقال واحد، من نصه فقط، بالعربية أو الإنجليزية.\n"
              "<b>{title}</b>\nالمصدر: {source}\n\nاسألني مثلاً: <i>{example}</i>\n"
              "الأوامر: /summary و/sources و/reset و/cancel و/help",
    },
    "help": {
        "en": "Send any question about the article; follow-up questions are understood.\n"
              "/summary [en|ar] a short summary · /sources passages behind the last answer · "
              "/reset forget this chat · /cancel drop your waiting question. In groups: mention me, reply to me, or /ask QUESTION.",
        "ar": "أرسل أي سؤال عن المقال؛ وأفهم أسئلة المتابعة.\n"
              "/summary ملخص قصير · /sources مصادر الإجابة الأخيرة · /reset مسح المحادثة · /cancel إلغاء سؤالك المنتظر. "
              "في المجموعات: اذكرني أو رد على رسالتي أو استخدم /ask مع السؤال.",
    },
    "queued": {"en": "You are number {position} in line; I will answer as soon as I can.",
               "ar": "أنت رقم {position} في الدور؛ سأجيبك في أقرب وقت."},
    "too_many_pending": {"en": "You already have a question waiting. Please wait for its answer before sending another.",
                         "ar": "لديك سؤال ينتظر الإجابة بالفعل. من فضلك انتظر الإجابة قبل إرسال سؤال آخر."},
    "rate_limited": {"en": "You are asking faster than I can keep up with. Please wait a minute and ask again.",
                     "ar": "أنت تسأل أسرع مما أستطيع. من فضلك انتظر دقيقة ثم اسأل مرة أخرى."},
    "busy": {"en": "I am very busy right now. Please try again in a few minutes.",
             "ar": "أنا مشغول جداً الآن. من فضلك حاول مرة أخرى بعد دقائق."},
    "not_text": {"en": "I can only read text. Send me a question about the article, or /help.",
                 "ar": "أستطيع قراءة النص فقط. أرسل لي سؤالاً عن المقال، أو /help."},
    "not_allowed": {"en": "Sorry, this bot is private.", "ar": "عذراً، هذا البوت خاص."},
    "restarted": {"en": "I was restarted before I could answer this. Please send your question again.",
                  "ar": "أُعيد تشغيلي قبل أن أجيب عن هذا. من فضلك أرسل سؤالك مرة أخرى."},
    "llm_unavailable": {"en": "The answering service is unreachable right now. Please try again in a minute.",
                        "ar": "خدمة الإجابة غير متاحة الآن. من فضلك حاول مرة أخرى بعد دقيقة."},
    "cancelled": {"en": "Cancelled.", "ar": "تم الإلغاء."},
    "nothing_to_cancel": {"en": "There is nothing to cancel.", "ar": "لا يوجد ما يمكن إلغاؤه."},
    "unknown_command": {"en": "I do not know that command. /help lists what I can do.",
                        "ar": "لا أعرف هذا الأمر. /help يعرض ما أستطيع فعله."},
    "sources_footer": {"en": "Sources", "ar": "المصادر"},
}


def message(key: str, lang: str, **values: object) -> str:
    texts = MESSAGES[key]
    text = texts.get(lang) or texts["en"]
    return text.format(**values) if values else text


def bilingual(key: str, **values: object) -> str:
    """Arabic first, then English: for when we do not know the user's language."""
    return f"{message(key, 'ar', **values)}\n{message(key, 'en', **values)}"
