"""`crm acquisitions …`: import citations and slips (all or nothing, problems by line), write the
plan as CSV or XLSX, check the catalogue again and look for arrivals."""

import asyncio

import openpyxl
import pytest
from click.testing import CliRunner

import crm.models  # noqa: F401  (every mapper, as the CLI has them)
from crm.cli import main
from tests.acquisitions.helpers import FIXTURES


@pytest.fixture
def env(tmp_path):
    """A migrated SQLite database with the demo data (courses TV2012 and KHMT3012 among it)."""
    from crm.demo import load_demo_if_empty
    from crm.settings import load_settings

    values = {"CRM_VAR_DIR": str(tmp_path), "CRM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
              "CRM_SECRET_KEY": "cli-test-secret-0123456789abcdef"}
    assert invoke(values, "migrate").exit_code == 0
    with pytest.MonkeyPatch.context() as patch:
        for key, value in values.items():
            patch.setenv(key, value)
        assert asyncio.run(load_demo_if_empty(load_settings()))
    return values


def invoke(env, *args, input=None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False, input=input)


@pytest.mark.parametrize("command", [["acquisitions"], ["acquisitions", "import-citations"],
                                     ["acquisitions", "import-slips"], ["acquisitions", "plan"],
                                     ["acquisitions", "resolve"]])
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_import_citations_reports_problems_by_record(env):
    bad = invoke(env, "acquisitions", "import-citations", "TV2012", str(FIXTURES / "broken.ris"), "--language", "en")
    assert bad.exit_code == 1
    assert "record 2 line 6: Not a year: năm hai nghìn" in bad.output
    assert "Nothing was imported" in bad.output
    ok = invoke(env, "acquisitions", "import-citations", "khmt3012", str(FIXTURES / "reading-list.ris"))
    assert ok.exit_code == 0, ok.output
    assert "Đã thêm 3 tài liệu: 3 có sẵn, 0 cần xác nhận, 0 chưa có." in ok.output
    piped = invoke(env, "acquisitions", "import-citations", "TV2012", "-", "--format", "text",
                   input="Sách chưa có trong thư viện\n")
    assert piped.exit_code == 0 and "1 chưa có" in piped.output
    unknown = invoke(env, "acquisitions", "import-citations", "KHONG-CO", str(FIXTURES / "reading-list.ris"))
    assert unknown.exit_code == 1 and "Không có học phần nào mang mã này." in unknown.output


def test_import_slips_is_all_or_nothing(env):
    bad = invoke(env, "acquisitions", "import-slips", str(FIXTURES / "broken-slips.csv"), "--language", "en")
    assert bad.exit_code == 1 and "row 3 [outcome]" in bad.output
    ok = invoke(env, "acquisitions", "import-slips", str(FIXTURES / "slips.csv"))
    assert ok.exit_code == 0 and "Đã nhập 5 phiếu." in ok.output


def test_the_plan_is_written_as_xlsx_and_csv(env, tmp_path):
    target = tmp_path / "ke-hoach.xlsx"
    result = invoke(env, "acquisitions", "plan", "--format", "xlsx", "-o", str(target))
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(target)["Kế hoạch bổ sung"]
    titles = [sheet.cell(row=r, column=3).value for r in range(2, sheet.max_row)]
    assert "Bảo quản tài liệu số" in titles and "Giáo trình kế toán tài chính" in titles
    out = invoke(env, "acquisitions", "plan", "--format", "csv", "-o", "-", "--language", "en")
    assert out.output.startswith("\ufeffRank,Score,Title")
    assert invoke(env, "acquisitions", "plan", "--format", "xlsx", "-o", "-").exit_code == 2


def test_resolve_checks_again_and_looks_for_arrivals(env):
    result = invoke(env, "acquisitions", "resolve")
    assert result.exit_code == 0, result.output
    assert "Đã đối chiếu:" in result.output and "Tài liệu mới đã xem: 24" in result.output
    again = invoke(env, "acquisitions", "resolve")
    assert "Tài liệu mới đã xem: 0" in again.output
