"""The `crm` command line: migrate, user create, token create, and --help everywhere."""

import pytest
from click.testing import CliRunner

from crm.cli import main


@pytest.fixture
def env(tmp_path):
    return {
        "CRM_VAR_DIR": str(tmp_path),
        "CRM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "CRM_SECRET_KEY": "cli-test-secret-0123456789abcdef",
    }


def invoke(env, *args):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.mark.parametrize("command", [[], ["serve"], ["worker"], ["migrate"], ["demo"], ["user"], ["user", "create"],
                                     ["token"], ["token", "create"]])
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_commands_refuse_an_unmigrated_database(env):
    result = CliRunner().invoke(main, ["user", "create", "--email", "a@b.vn", "--password", "long enough pw"], env=env)
    assert result.exit_code != 0
    assert "crm migrate" in result.output


def test_migrate_create_user_and_token(env):
    assert "migrated to head" in invoke(env, "migrate").output
    result = invoke(env, "user", "create", "--email", "Thu.Thu@Example.edu.vn", "--password", "mật khẩu dài",
                    "--role", "admin", "--name", "Trần Thị Thu")
    assert result.exit_code == 0, result.output
    assert "admin thu.thu@example.edu.vn" in result.output

    result = invoke(env, "user", "create", "--email", "thu.thu@example.edu.vn", "--password", "another long one")
    assert result.exit_code == 1 and "email" in result.output  # duplicate, ignoring case

    result = invoke(env, "user", "create", "--email", "x@example.org", "--password", "short")
    assert result.exit_code == 1 and "password" in result.output

    result = invoke(env, "token", "create", "thu.thu@example.edu.vn")
    token = result.output.strip()
    assert result.exit_code == 0 and token.startswith("crm_") and len(token) > 30

    result = invoke(env, "token", "create", "nobody@example.org")
    assert result.exit_code == 1 and "No account" in result.output

    assert "migrated to base" in invoke(env, "migrate", "--down", "base").output
    assert "migrated to head" in invoke(env, "migrate").output


def test_a_cli_token_works_against_the_api(env, tmp_path):
    from litestar.testing import TestClient

    from crm.app import create_app
    from crm.settings import load_settings

    invoke(env, "migrate")
    invoke(env, "user", "create", "--email", "lib@example.edu.vn", "--password", "long enough pw")
    token = invoke(env, "token", "create", "lib@example.edu.vn").output.strip()
    import os

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        app = create_app(load_settings(), background=False)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    with TestClient(app=app) as client:
        r = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["email"] == "lib@example.edu.vn"


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_long_running_commands_refuse_an_unknown_citation_style(env, command):
    result = CliRunner().invoke(main, [command], env={**env, "CRM_CITATION_STYLE": "apa-7th-but-wrong"})
    assert result.exit_code != 0
    assert "CRM_CITATION_STYLE='apa-7th-but-wrong' is not a CSL style" in result.output and "elsevier-harvard" in result.output


def test_known_citation_styles_pass_the_check():
    from crm.digests.citations import style_problem

    assert style_problem(None) is None and style_problem("ieee") is None and style_problem("elsevier-harvard") is None
    assert style_problem("../etc/passwd") is not None
