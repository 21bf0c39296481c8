"""Rendering a digest's entries once per run: the email reads exactly as if it were rendered and
inlined whole, for every recipient, whatever their reasons."""

from datetime import UTC, datetime

import pytest
from markupsafe import Markup

from crm import i18n, templating
from crm.digests import content
from crm.liaison.models import Contact
from tests.digests.digestdata import make_item, make_match, make_profile, make_source
from tests.digests.test_compose import preview, subscription_for
from tests.liaison.people import make_contact

ARGS = {"group_name": "Nhóm <Học máy> & cộng sự", "preferences_url": "https://crm.example/p/t?a=1&b=2",
        "unsubscribe_url": "https://crm.example/u/t",
        "export_urls": {"ris": "https://crm.example/e.ris?token=x", "bib": "https://crm.example/e.bib?token=x"}}


def whole(digest: content.RenderedDigest, contact: Contact) -> str:
    """The reference: each entry rendered with its own reasons, the whole email inlined at once."""
    with i18n.language(digest.language):
        for entry in digest.entries:
            raw = templating.render("email/digest/_entry.html", e=entry).strip("\n")
            entry.fragment = content.Fragment(Markup(raw), "")
        context = content.email_context(digest, contact, None, **ARGS)
        html = templating.environment().get_template("email/digest/body.html").render({**context, "piece": lambda html: html})
    return templating._css_inliner().inline(html)


@pytest.mark.parametrize("language", ["vi", "en"])
async def test_entries_rendered_once_read_as_the_whole_email_inlined(factory, session_maker, settings, language):
    from crm.acquisitions.models import Arrival

    marc, feed, oai = [await make_source(factory, kind) for kind in ("marc", "feed", "oai")]
    an = await make_contact(factory, "Nguyễn Văn An", "an@example.edu.vn")
    profile = await make_profile(factory, "Học máy", contact=an, keywords=["học máy"])
    book = await make_item(factory, "Học máy <căn bản> & ứng dụng", source=marc, material_type="book", ddc="006.31",
                           authors=["Trần, Lan"], publisher="NXB \"Trẻ\"", year=2025)
    article = await make_item(factory, "Deep learning for libraries", source=feed, material_type="article",
                              journal="Tạp chí Thư viện Việt Nam", doi="10.5555/x.1", year=2026)
    thesis = await make_item(factory, "Luận án về học máy", source=oai, material_type="thesis",
                             link="https://repository.example.edu.vn/handle/1/2")
    asked = await make_item(factory, "Sách Thầy/Cô đề xuất", source=marc, material_type="book")
    for n, item in enumerate((book, article, thesis)):
        await make_match(factory, item, profile, 5.0 - n, why="học máy")
    await factory.add(Arrival(key=f"suggestion:{asked.id}", item_id=asked.id, reason="suggestion", contact_id=an.id,
                              email=an.email, arrived_at=datetime.now(UTC)))
    digest = await preview(session_maker, settings, await subscription_for(factory, an, language=language), an)
    entries = digest.entries
    assert [e.arrived for e in entries] == [True, False, False, False]

    cache: dict = {}
    entries[1].reasons = ['Từ khóa "học máy" & <AI>', "năm\xa02025"]
    entries[2].reasons = []
    content.render(digest, an, None, fragments=cache, **ARGS)
    fast, text = digest.html, digest.text
    assert fast == whole(digest, an)
    assert "Từ khóa \"học máy\" &amp; &lt;AI&gt;; năm&nbsp;2025" in fast and 'Từ khóa "học máy" & <AI>; năm\xa02025' in text
    assert fast.count('class="entry" style="') == 4  # every entry's CSS inlined

    # Another recipient of the same items, for other reasons: from the cache, with their reasons.
    cached = dict(cache)
    entries[1].reasons, entries[3].reasons = ["Chủ đề: thư viện số"], ["Tác giả: Trần, Lan"]
    content.render(digest, an, None, fragments=cache, **ARGS)
    assert cache == cached  # nothing rendered again
    assert "Chủ đề: thư viện số" in digest.html and "Từ khóa" not in digest.html
    assert "Tác giả: Trần, Lan" in digest.text
    assert digest.html == whole(digest, an)
