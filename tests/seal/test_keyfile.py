"""Key files (registry.seal.keyfile): how they are encrypted, read back from the files
themselves; older files; the passphrase rule for new keystores."""

from __future__ import annotations

import datetime as dt
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from asn1crypto import keys, pem
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from registry.cli import cli
from registry.errors import SealError, WeakPassphraseError
from registry.seal.keyfile import (
    KDF_ITERATIONS,
    check_new_passphrase,
    key_file_parameters,
    load_key,
    upgrade_key_file,
    write_private,
)
from registry.seal.pki import create_test_pki, issue_signer, load_maker
from registry.tlog.keys import ensure_log_key
from tests.conftest import PASSPHRASE

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
KEY_FILES = ("root.key.pem", "maker.key.pem", "log.key.pem", "signers/3301000000001.key.pem")
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl here")


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ks = tmp_path_factory.mktemp("keyfile") / "keystore"
    create_test_pki(ks, PASSPHRASE, now=NOW)
    ensure_log_key(ks, PASSPHRASE, now=NOW)
    issue_signer(ks, PASSPHRASE, es_id="3301000000001", department_name="某市市场监督管理局",
                 department_uscc="11330105002500287C", now=NOW, not_after=NOW.replace(year=2029))
    return ks


def _algorithm(path: Path) -> dict[str, object]:
    """The file's encryption algorithm, parsed by asn1crypto alone (not by licreg)."""
    label, _headers, der = pem.unarmor(path.read_bytes())
    assert label == "ENCRYPTED PRIVATE KEY"
    native: dict[str, object] = keys.EncryptedPrivateKeyInfo.load(der)[
        "encryption_algorithm"].native
    return native


@pytest.mark.parametrize("key_file", KEY_FILES)
def test_every_key_file_is_pbes2_pbkdf2_sha256_600000_aes256(keystore: Path,
                                                             key_file: str) -> None:
    alg = _algorithm(keystore / key_file)
    assert alg["algorithm"] == "pbes2"
    params = alg["parameters"]
    assert isinstance(params, dict)
    kdf, cipher = params["key_derivation_func"], params["encryption_scheme"]
    assert kdf["algorithm"] == "pbkdf2"
    assert kdf["parameters"]["iteration_count"] == 600_000 == KDF_ITERATIONS  # the default
    assert kdf["parameters"]["prf"]["algorithm"] == "sha256"
    assert len(kdf["parameters"]["salt"]) == 16
    assert cipher["algorithm"] == "aes256_cbc" and len(cipher["parameters"]) == 16
    assert stat.S_IMODE((keystore / key_file).stat().st_mode) == 0o600


def test_each_file_has_its_own_iv(keystore: Path) -> None:
    ivs = {_algorithm(keystore / f)["parameters"]["encryption_scheme"]["parameters"]  # type: ignore[index]
           for f in KEY_FILES}
    assert len(ivs) == len(KEY_FILES)


@pytest.mark.parametrize("key_file", KEY_FILES)
def test_other_readers_open_the_files(keystore: Path, key_file: str) -> None:
    # cryptography's own PKCS#8 reader, which derives the key itself.
    ours = load_key(keystore / key_file, PASSPHRASE, "key")
    theirs = serialization.load_pem_private_key((keystore / key_file).read_bytes(), PASSPHRASE)
    assert isinstance(theirs, ec.EllipticCurvePrivateKey)
    assert theirs.private_numbers() == ours.private_numbers()


@needs_openssl
def test_openssl_reads_them_and_they_read_what_openssl_writes(keystore: Path,
                                                              tmp_path: Path) -> None:
    phrase = f"pass:{PASSPHRASE.decode()}"
    shown = subprocess.run(["openssl", "pkey", "-in", str(keystore / "maker.key.pem"),
                            "-passin", phrase, "-pubout"], capture_output=True, check=True)
    maker = load_maker(keystore, PASSPHRASE).key.public_key()
    assert shown.stdout == maker.public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    # A key OpenSSL encrypted (its own salt, another count) opens through licreg's reader.
    made = tmp_path / "openssl.key.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-aes-256-cbc", "-pass", phrase, "-out",
                    str(made)], capture_output=True, check=True)
    params = key_file_parameters(made.read_bytes())
    assert params is not None and (params.prf, params.cipher) == ("sha256", "aes256_cbc")
    key = load_key(made, PASSPHRASE, "key")
    expected = serialization.load_pem_private_key(made.read_bytes(), PASSPHRASE)
    assert isinstance(expected, ec.EllipticCurvePrivateKey)
    assert key.private_numbers() == expected.private_numbers()


def test_a_wrong_passphrase_is_refused_even_for_a_file_this_process_wrote(keystore: Path) -> None:
    with pytest.raises(SealError, match=r"root\.key\.pem.*wrong keystore passphrase"):
        load_key(keystore / "root.key.pem", b"TEST-ONLY-another-passphrase", "key")


def test_old_key_files_load_and_are_upgraded(tmp_path: Path) -> None:
    # What licreg wrote before: cryptography's BestAvailableEncryption, 2,048 iterations.
    key = ec.generate_private_key(ec.SECP256R1())
    old = tmp_path / "old.key.pem"
    write_private(old, key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.BestAvailableEncryption(PASSPHRASE)))
    before = key_file_parameters(old.read_bytes())
    assert before is not None and before.iterations == 2048 and not before.current
    assert load_key(old, PASSPHRASE, "key").private_numbers() == key.private_numbers()

    assert upgrade_key_file(old, PASSPHRASE, "key") is True
    after = key_file_parameters(old.read_bytes())
    assert after is not None and after.current and after.iterations == 600_000
    assert load_key(old, PASSPHRASE, "key").private_numbers() == key.private_numbers()
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert upgrade_key_file(old, PASSPHRASE, "key") is False
    assert [p.name for p in tmp_path.iterdir()] == ["old.key.pem"]


def test_an_unencrypted_key_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain.key.pem"
    plain.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    assert key_file_parameters(plain.read_bytes()) is None
    with pytest.raises(SealError, match="not an encrypted PKCS#8 key"):
        load_key(plain, PASSPHRASE, "key")


WEAK = {
    "": "only 0 characters",
    "a": "only 1 character",
    "short-phrase": None,  # 12 characters: long enough
    "Tr0ub4dor&3": "only 11 characters",
    "password1234": "common password",
    "Password-2026!": "common password",
    "PassPhrasePassPhrase": "common password",
    "licreg-licreg-2026": "common password",
    "keystore123456": "common password",
    "aaaaaaaaaaaaaaaa": "repeats",
    "abcabcabcabcabc": "repeats",
    "123456789012": "sequence",
    "qwertyuiopasdf": "sequence",
    "1qaz2wsx3edc4rfv": "sequence",
    "zyxwvutsrqponm": "sequence",
}


@pytest.mark.parametrize(("passphrase", "reason"), WEAK.items())
def test_weak_passphrases_are_refused_for_new_keystores(passphrase: str, reason: str | None,
                                                        tmp_path: Path) -> None:
    if reason is None:
        check_new_passphrase(passphrase.encode())
        return
    with pytest.raises(WeakPassphraseError, match=f"LICREG_KEY_PASSPHRASE .*{reason}"):
        create_test_pki(tmp_path / "ks", passphrase.encode(), now=NOW)
    assert not (tmp_path / "ks").exists()


@pytest.mark.parametrize("passphrase", [
    "TEST-ONLY-demo-passphrase", PASSPHRASE.decode(), "test-only-passphrase",
    "TEST-ONLY-passphrase", "TEST-ONLY-bench-passphrase", "TEST-ONLY-audit-tests",
    "correct horse battery staple", "红豆生南国春来发几枝愿君多采撷"])
def test_the_demo_the_tests_and_real_passphrases_pass(passphrase: str) -> None:
    check_new_passphrase(passphrase.encode())


@pytest.mark.parametrize("command", [["pki", "init"], ["init", "--demo"]])
def test_a_weak_passphrase_is_a_usage_error_in_chinese(command: list[str], tmp_path: Path) -> None:
    home = tmp_path / "var"
    env = {"LICREG_HOME": str(home), "LICREG_DATABASE_URL": f"sqlite:///{home / 'r.db'}",
           "LICREG_KEY_PASSPHRASE": "password2026", "LICREG_LANG": "zh",
           "LICREG_TRACEBACK": "0"}
    out = CliRunner().invoke(cli, command, env=env)
    assert out.exit_code == 2, out.output
    assert out.stderr.splitlines() == [
        "错误：LICREG_KEY_PASSPHRASE 口令强度不足，不能用于新建密钥库：它是常见口令或本系统的名称"
        "（另加数字或符号）。密钥库口令至少 12 个字符，且不得是常见口令、本系统的名称，或重复、"
        "连续的字符（几个互不相关的词连在一起即可）"]
    assert "Traceback" not in out.output
    assert not (home / "keystore" / "root.key.pem").exists()


def test_pki_upgrade_re_encrypts_what_an_older_licreg_wrote(tmp_path: Path) -> None:
    home = tmp_path / "var"
    ks = home / "keystore"
    create_test_pki(ks, PASSPHRASE, now=NOW)
    maker = load_maker(ks, PASSPHRASE).key
    (ks / "maker.key.pem").unlink()
    write_private(ks / "maker.key.pem", maker.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE)))
    root_before = (ks / "root.key.pem").read_bytes()
    env = {"LICREG_HOME": str(home), "LICREG_KEY_PASSPHRASE": "TEST-ONLY-not-the-passphrase"}

    wrong = CliRunner().invoke(cli, ["pki", "upgrade"], env=env)
    assert wrong.exit_code == 1 and "wrong keystore passphrase" in wrong.stderr
    old = key_file_parameters((ks / "maker.key.pem").read_bytes())
    assert old is not None and old.iterations == 2048

    env["LICREG_KEY_PASSPHRASE"] = PASSPHRASE.decode()
    out = CliRunner().invoke(cli, ["pki", "upgrade"], env=env)
    assert out.exit_code == 0, out.output
    assert out.output.splitlines() == [
        f"re-encrypted {ks / 'maker.key.pem'}",
        "1 key file re-encrypted; every key is at the current parameters"]
    params = key_file_parameters((ks / "maker.key.pem").read_bytes())
    assert params is not None and params.current
    assert load_maker(ks, PASSPHRASE).key.private_numbers() == maker.private_numbers()
    assert (ks / "root.key.pem").read_bytes() == root_before  # already current: untouched
    again = CliRunner().invoke(cli, ["pki", "upgrade"], env=env)
    assert again.output.splitlines() == [
        "0 key files re-encrypted; every key is at the current parameters"]
