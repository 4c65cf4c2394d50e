"""Certificates for the TLS tests, made at test time with the openssl CLI.

make_pki(dir) writes, under dir:
  root.crt / root.key          a root CA (RSA)
  inter.crt / inter.key        an intermediate CA signed by the root
  a.crt (+chain) / a.key       RSA leaf for a.test signed by the intermediate; a.crt holds the
                               leaf then the intermediate (a chain, as ssl_certificate wants)
  a-ec.crt (+chain) / a-ec.key ECDSA P-256 leaf for a.test, same chain
  b.crt / b.key                RSA leaf for b.test signed by the root directly
  client-ca.crt / .key         a CA for client certificates
  client.crt / client.key      a client certificate (CN=client1) signed by client-ca
  other-client.crt / .key      a self-signed client certificate (not trusted)
"""

import os
import shutil
import subprocess
import tempfile


def _run(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def _ext(cwd, name, text):
    p = os.path.join(cwd, name)
    with open(p, "w") as f:
        f.write(text)
    return name


def make_leaf(d, name, cn, ca, key_kind="rsa", san=True, days=2, serial=None):
    """A leaf key + certificate signed by CA `ca` (file stem); returns the cert path."""
    if key_kind == "rsa":
        _run("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
             "-out", f"{name}.key", cwd=d)
    else:
        _run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", f"{name}.key", cwd=d)
    _run("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={cn}", "-out", f"{name}.csr", cwd=d)
    ext = _ext(d, f"{name}.ext",
               (f"subjectAltName=DNS:{cn}\n" if san else "") +
               "basicConstraints=CA:FALSE\n")
    args = ["x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-days", str(days), "-extfile", ext, "-out", f"{name}.crt"]
    args += ["-set_serial", str(serial)] if serial else ["-CAcreateserial"]
    _run(*args, cwd=d)
    return os.path.join(d, f"{name}.crt")


def _ca(d, name, cn, signer=None):
    _run("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
         "-out", f"{name}.key", cwd=d)
    ext = _ext(d, f"{name}.ext", "basicConstraints=critical,CA:TRUE\n"
                                 "keyUsage=critical,keyCertSign,cRLSign\n")
    if signer is None:
        _run("req", "-x509", "-new", "-key", f"{name}.key", "-subj", f"/CN={cn}", "-days", "2",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", f"{name}.crt", cwd=d)
    else:
        _run("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={cn}", "-out", f"{name}.csr",
             cwd=d)
        _run("x509", "-req", "-in", f"{name}.csr", "-CA", f"{signer}.crt", "-CAkey",
             f"{signer}.key", "-CAcreateserial", "-days", "2", "-extfile", ext,
             "-out", f"{name}.crt", cwd=d)


def _append(d, target, *sources):
    with open(os.path.join(d, target), "ab") as out:
        for s in sources:
            with open(os.path.join(d, s), "rb") as f:
                out.write(f.read())


def make_pki(d):
    os.makedirs(d, exist_ok=True)
    _ca(d, "root", "Test Root CA")
    _ca(d, "inter", "Test Intermediate CA", signer="root")
    make_leaf(d, "a", "a.test", "inter")
    _append(d, "a.crt", "inter.crt")
    make_leaf(d, "a-ec", "a.test", "inter", key_kind="ec")
    _append(d, "a-ec.crt", "inter.crt")
    make_leaf(d, "b", "b.test", "root")
    _ca(d, "client-ca", "Test Client CA")
    make_leaf(d, "client", "client1", "client-ca", san=False, serial=4660)
    _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other-client.key",
         "-subj", "/CN=intruder", "-days", "2", "-out", "other-client.crt", cwd=d)
    return d


class TempPki:
    """make_pki's files in a temporary directory: make() (setUpModule), path(name), remove()."""

    def __init__(self, prefix):
        self.prefix, self.dir = prefix, None

    def make(self):
        self.dir = make_pki(tempfile.mkdtemp(prefix=self.prefix))

    def path(self, name):
        return os.path.join(self.dir, name)

    def remove(self):
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
