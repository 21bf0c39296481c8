"""render_email: the one way emails are rendered (subject, text, HTML with inlined CSS) in a language."""

from crm.templating import render_email


def context(**extra):
    return {"library_name": "Thư viện <Trung tâm>", "greeting": "Kính gửi TS. Nguyễn Văn An,", "intro": "Giới thiệu.",
            "blocks": [], "item_count": 3, "export": None, "group_name": None,
            "signature": {"name": "Trần Thị Lan", "title": "Cán bộ thư viện phụ trách", "email": "lan@lib.example.edu.vn"},
            "footer_note": "Ghi chú.", "preferences_url": "https://crm.example/preferences/t?a=1&b=2",
            "unsubscribe_url": "https://crm.example/unsubscribe/t", **extra}


def test_subject_text_and_inlined_html_in_vietnamese():
    subject, text, html = render_email("digest", context(), "vi")
    assert subject == "Bản tin tài liệu mới: 3 tài liệu"
    assert text.startswith("Kính gửi TS. Nguyễn Văn An,\n") and text.endswith("\n") and "\n\n\n" not in text
    assert "\n-- \nTrần Thị Lan\n" in text  # the signature separator keeps its space
    assert "Hủy đăng ký nhận tin: https://crm.example/unsubscribe/t" in text
    assert html.startswith("<!DOCTYPE html>") and '<html lang="vi">' in html
    assert html.count("<style") == 1 and "@media" in html  # only the media queries stay in a <style> block
    assert 'style="' in html and "class=\"header-title\"" in html
    assert "Thư viện &lt;Trung tâm&gt;" in html and "<Trung tâm>" not in html
    assert 'href="https://crm.example/preferences/t?a=1&amp;b=2"' in html


def test_english_rendering():
    subject, text, html = render_email("digest", context(), "en")
    assert subject == "New in the library for you: 3 items"
    assert '<html lang="en">' in html and "Unsubscribe" in html and "Unsubscribe: https://crm.example/unsubscribe/t" in text
