"""A small Hugging Face Hub-compatible HTTP server: test infrastructure, not part of hubzoo.

It answers what hubzoo does through huggingface_hub (publishing, pulling, listing), as the real client sends it,
on 127.0.0.1; the tests point the client at it (``HF_ENDPOINT`` / ``huggingface_hub.constants.ENDPOINT``). Checked
against the requests of huggingface_hub 2.4.0 (httpx2 transport) with Xet turned off (``HF_HUB_DISABLE_XET``):
that client uploads through Xet whenever ``hf_xet`` is installed, whatever the server says, and this server
speaks only the plain protocol (LFS batch API for uploads, HTTP for downloads; it never sends ``X-Xet-*``).

=========================================  ===================================================================
``POST /api/repos/create``                 create_repo; bearer token, ``visibility``/``private``; 409 when the
                                           repository exists, 403 in a namespace the token does not own
``POST /api/validate-yaml``                the model card check create_commit makes first (front matter is YAML)
``GET  /api/agent-harnesses``              the client's telemetry registry, asked once per process (empty here)
``GET  /api/models/R[/revision/REV]``      model_info / repo_info
``GET  /api/models/R/refs``                list_repo_refs
``GET  /api/models/R/tree/REV[/PATH]``     list_repo_tree / list_repo_files (one page)
``POST /api/models/R/branch/NAME``         create_branch
``POST /api/models/R/preupload/REV``       each file's upload mode ("lfs" by the repository's .gitattributes, size
                                           over 10 MiB or binary content, else "regular") and the oid it has there
``POST /R.git/info/lfs/objects/batch``     LFS batch API: upload and verify actions for objects not stored yet
``PUT  /lfs-upload/OID``, ``POST /lfs-verify/OID``   the upload URL (sha256 and size checked) and verification
``POST /api/models/R/commit/REV``          the NDJSON commit: header, file (base64, inline), lfsFile, deletedFile
``HEAD|GET /R/resolve/REV/PATH``           a file at a revision: ``X-Repo-Commit``, ``ETag`` (git blob sha1); an
                                           LFS file is a 302 to the storage host with ``X-Linked-Etag`` (its sha256)
                                           and ``X-Linked-Size``, as the Hub redirects to its CDN
``GET  /lfs-storage/OID``                  that storage host: ``localhost`` instead of 127.0.0.1, so the client
                                           treats it as another host and drops the token; honours ``Range``
=========================================  ===================================================================

Errors carry ``X-Error-Code`` (RepoNotFound, RevisionNotFound, EntryNotFound) or ``X-Error-Message`` as the Hub's
do, so the client raises its own exception classes. Faults for the tests: :meth:`HubServer.fail` answers a status
to the next matching requests, :meth:`HubServer.break_downloads` cuts LFS bodies short or changes a byte. State
(repositories, commits, objects) lives in the folder given; every request is logged in :attr:`HubServer.log`.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

CLIENT_VERSION = "2.4.0"  # the huggingface_hub whose requests this server was checked against
LFS_SIZE = 10 * 1024 * 1024  # the Hub stores files above this size with LFS whatever .gitattributes says
GITATTRIBUTES = "".join(f"*.{ext} filter=lfs diff=lfs merge=lfs -text\n"
                        for ext in ("bin", "ckpt", "h5", "onnx", "pt", "pth", "safetensors", "tar", "zip"))
_R = r"(?P<repo>[\w.-]+/[\w.-]+)"
_ROUTES = [  # (method, path pattern, handler name); the first match wins
    ("POST", r"/api/repos/create", "create_repo"),
    ("POST", r"/api/validate-yaml", "validate_yaml"),
    ("GET", r"/api/agent-harnesses", "agent_harnesses"),
    ("GET", rf"/api/models/{_R}/refs", "refs"),
    ("GET", rf"/api/models/{_R}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", "tree"),
    ("POST", rf"/api/models/{_R}/branch/(?P<branch>[^/]+)", "create_branch"),
    ("POST", rf"/api/models/{_R}/preupload/(?P<rev>[^/]+)", "preupload"),
    ("POST", rf"/api/models/{_R}/commit/(?P<rev>[^/]+)", "commit"),
    ("GET", rf"/api/models/{_R}(?:/revision/(?P<rev>[^/]+))?", "model_info"),
    ("POST", rf"/{_R}\.git/info/lfs/objects/batch", "lfs_batch"),
    ("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})", "lfs_upload"),
    ("POST", r"/lfs-verify/(?P<oid>[0-9a-f]{64})", "lfs_verify"),
    ("GET", r"/lfs-storage/(?P<oid>[0-9a-f]{64})", "lfs_storage"),
    ("GET", rf"/{_R}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
]


class HubError(Exception):
    """An error answer: status, JSON ``{"error": message, **extra}`` and the Hub's error headers."""

    def __init__(self, status: int, message: str, code: str | None = None, extra: dict | None = None, **headers: str):
        super().__init__(message)
        self.status, self.headers = status, dict(headers, **({"X-Error-Code": code} if code else {}))
        self.body = {"error": message, **(extra or {})}


def git_blob_sha1(data: bytes) -> str:
    """What git (and the Hub's ETag of a file stored in git) names ``data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(oid: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


class HubServer:
    """The server's state and faults; :meth:`start` serves it on 127.0.0.1 in a thread, :meth:`stop` ends it.

    ``tokens`` maps bearer tokens to user names; ``orgs`` maps a user to the organisations it may write in.
    """

    def __init__(self, root: Path, tokens: dict[str, str], orgs: dict[str, set[str]] | None = None):
        self.root, self.tokens, self.orgs = Path(root), tokens, orgs or {}
        (self.root / "objects").mkdir(parents=True, exist_ok=True)
        self.state_file = self.root / "state.json"
        self.state = json.loads(self.state_file.read_text()) if self.state_file.exists() else {"repos": {}, "commits": {}}
        self.lock = threading.Lock()
        self.faults: list[dict] = []
        self.log: list[tuple[str, str, int]] = []
        self.httpd: ThreadingHTTPServer | None = None

    # ---------------------------------------------------------------- lifecycle and faults

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> "HubServer":
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.hub = self
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def fail(self, method: str, path: str, status: int, times: int | None = 1, **headers: str) -> None:
        """Answer ``status`` (with ``headers``) to the next ``times`` requests (all, when None) whose path matches
        the regular expression ``path``."""
        self.faults.append({"method": method, "path": path, "status": status, "times": times, "headers": headers})

    def break_downloads(self, how: str, times: int | None = None) -> None:
        """LFS downloads send half the body and close the connection (``"cut"``) or change a byte (``"flip"``)."""
        self.faults.append({"method": "GET", "path": "/lfs-storage/", "status": how, "times": times, "headers": {}})

    def _fault(self, method: str, path: str) -> dict | None:
        with self.lock:
            for fault in self.faults:
                if fault["method"] == method and re.search(fault["path"], path) and fault["times"] != 0:
                    fault["times"] = None if fault["times"] is None else fault["times"] - 1
                    return fault
        return None

    def requests(self, method: str, pattern: str) -> list[tuple[str, str, int]]:
        """The logged requests of ``method`` whose path matches ``pattern``."""
        return [entry for entry in self.log if entry[0] == method and re.search(pattern, entry[1])]

    # ---------------------------------------------------------------- state

    def _save(self) -> None:
        self.state_file.write_text(json.dumps(self.state, indent=1))

    def _object(self, oid: str) -> Path:
        return self.root / "objects" / oid

    def _store(self, data: bytes) -> str:
        oid = hashlib.sha256(data).hexdigest()
        partial = self._object(f"{oid}.{threading.get_ident()}")  # renamed into place: no reader sees half an object
        partial.write_bytes(data)
        partial.replace(self._object(oid))
        return oid

    def _commit(self, parent: str | None, files: dict, title: str) -> str:
        oid = hashlib.sha1(json.dumps([parent, files, title, len(self.state["commits"])]).encode()).hexdigest()
        self.state["commits"][oid] = {"parent": parent, "files": files, "title": title,
                                      "date": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")}
        return oid

    def _repo(self, repo_id: str, user: str | None, *, write: bool = False) -> dict:
        repo = self.state["repos"].get(repo_id)
        if repo is None or (repo["private"] and not self._member(user, repo_id)):
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        if write and not self._member(user, repo_id):
            raise HubError(403, "forbidden", **{"X-Error-Message": f"You don't have the rights to write to {repo_id}"})
        return repo

    def _member(self, user: str | None, repo_id: str) -> bool:
        namespace = repo_id.split("/")[0]
        return user is not None and (namespace == user or namespace in self.orgs.get(user, set()))

    def _resolve(self, repo: dict, rev: str) -> str:
        oid = repo["branches"].get(rev) or repo["tags"].get(rev)
        if oid is None and rev in repo["commit_ids"]:
            oid = rev
        if oid is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return oid

    def _in_git(self, file: dict) -> bytes:
        """What git holds for a file: its content, or for an LFS file the pointer to it."""
        return lfs_pointer(file["sha256"], file["size"]) if file["lfs"] else self._object(file["sha256"]).read_bytes()

    def _entry(self, path: str, file: dict) -> dict:
        """A file as the tree API lists it."""
        entry = {"type": "file", "path": path, "size": file["size"], "oid": git_blob_sha1(self._in_git(file))}
        if file["lfs"]:
            entry["lfs"] = {"oid": file["sha256"], "size": file["size"], "pointerSize": len(self._in_git(file))}
        return entry

    # ---------------------------------------------------------------- endpoints: repositories

    def create_repo(self, req, user, body):
        name, namespace = body["name"], body.get("organization") or user
        repo_id = f"{namespace}/{name}"
        if user is None or not self._member(user, repo_id):
            raise HubError(403, "forbidden", **{"X-Error-Message": f"You don't have the rights to create a model under {namespace}"})
        with self.lock:
            if repo_id in self.state["repos"]:
                # create_repo(exist_ok=True) reads the url of the repository that exists
                raise HubError(409, "You already created this model repo", extra={"url": f"{req.base}/{repo_id}"})
            first = self._commit(None, {".gitattributes": {"sha256": self._store(GITATTRIBUTES.encode()),
                                                           "size": len(GITATTRIBUTES), "lfs": False}}, "initial commit")
            private = body.get("visibility", "private" if body.get("private") else "public") == "private"
            self.state["repos"][repo_id] = {"private": private, "branches": {"main": first}, "tags": {}, "commit_ids": [first]}
            self._save()
        return 200, {"url": f"{req.base}/{repo_id}", "name": repo_id, "id": hashlib.md5(repo_id.encode()).hexdigest()[:24]}

    def validate_yaml(self, req, user, body):
        import yaml

        match = re.match(r"^---\n(.*?)\n---", body.get("content", ""), re.S)
        try:
            yaml.safe_load(match[1]) if match else None
        except yaml.YAMLError as exc:
            return 400, {"errors": [{"message": str(exc)}], "warnings": []}
        return 200, {"errors": [], "warnings": []}

    def agent_harnesses(self, req, user, body):  # the client's telemetry asks once per process; none known here
        return 200, {"standardEnvVars": [], "harnesses": {}}

    def model_info(self, req, user, body, repo, rev=None):
        info = self._repo(repo, user)
        oid = self._resolve(info, unquote(rev or "main"))
        files = self.state["commits"][oid]["files"]
        return 200, {"id": repo, "modelId": repo, "author": repo.split("/")[0], "sha": oid, "private": info["private"],
                     "lastModified": self.state["commits"][oid]["date"], "tags": [], "downloads": 0, "likes": 0,
                     "siblings": [{"rfilename": path} for path in sorted(files)]}

    def refs(self, req, user, body, repo):
        info = self._repo(repo, user)
        listed = lambda kind, refs: [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": c} for n, c in refs.items()]
        return 200, {"branches": listed("heads", info["branches"]), "tags": listed("tags", info["tags"]), "converts": []}

    def tree(self, req, user, body, repo, rev, path=None):
        info = self._repo(repo, user)
        files = self.state["commits"][self._resolve(info, unquote(rev))]["files"]
        prefix = unquote(path).strip("/") + "/" if path else ""
        recursive = "recursive=true" in req.query.lower()
        entries, folders = [], set()
        for name in sorted(files):
            if not name.startswith(prefix):
                continue
            parts = name[len(prefix):].split("/")
            for depth in range(1, len(parts) if recursive else min(len(parts), 2)):
                folders.add(prefix + "/".join(parts[:depth]))
            if recursive or len(parts) == 1:
                entries.append(self._entry(name, files[name]))
        if path and not entries and not folders:
            raise HubError(404, f"{path} does not exist", "EntryNotFound")
        return 200, [{"type": "directory", "path": f, "oid": hashlib.sha1(f.encode()).hexdigest(), "size": 0}
                     for f in sorted(folders)] + entries

    def create_branch(self, req, user, body, repo, branch):
        info = self._repo(repo, user, write=True)
        branch = unquote(branch)
        with self.lock:
            if branch in info["branches"]:
                raise HubError(409, f"Reference refs/heads/{branch} already exists")
            info["branches"][branch] = self._resolve(info, body.get("startingPoint") or "main")
            self._save()
        return 200, {}

    # ---------------------------------------------------------------- endpoints: uploading

    def preupload(self, req, user, body, repo, rev):
        info = self._repo(repo, user, write=True)
        head = self.state["commits"][self._resolve(info, unquote(rev))]["files"]
        patterns = [line.split()[0] for line in self._object(head[".gitattributes"]["sha256"]).read_text().splitlines()
                    if "filter=lfs" in line] if ".gitattributes" in head else []
        answer = []
        for file in body["files"]:
            sample = base64.b64decode(file["sample"])
            name = file["path"].split("/")[-1]
            lfs = any(fnmatch.fnmatch(name, p) for p in patterns) or file["size"] > LFS_SIZE or b"\0" in sample
            there = head.get(file["path"])  # the client skips a file whose oid here is its own
            oid = None if there is None else there["sha256"] if there["lfs"] else git_blob_sha1(self._in_git(there))
            answer.append({"path": file["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        return 200, {"files": answer, "commitOid": self._resolve(info, unquote(rev))}

    def lfs_batch(self, req, user, body, repo):
        self._repo(repo, user, write=True)
        objects = []
        for obj in body["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"]}
            if not self._object(obj["oid"]).is_file():  # stored objects need no upload: no "actions"
                entry["actions"] = {"upload": {"href": f"{req.base}/lfs-upload/{obj['oid']}", "header": {}},
                                    "verify": {"href": f"{req.base}/lfs-verify/{obj['oid']}", "header": {}}}
            objects.append(entry)
        return 200, {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}

    def lfs_upload(self, req, user, body, oid):
        if hashlib.sha256(body).hexdigest() != oid:
            raise HubError(400, f"the uploaded content does not hash to {oid}")
        self._store(body)
        return 200, {}

    def lfs_verify(self, req, user, body, oid):
        stored = self._object(oid)
        if not stored.is_file() or stored.stat().st_size != body.get("size"):
            raise HubError(404, f"object {oid} is not stored with size {body.get('size')}")
        return 200, {}

    def commit(self, req, user, body, repo, rev):
        info = self._repo(repo, user, write=True)
        branch = unquote(rev)
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = lines[0]["value"] if lines and lines[0]["key"] == "header" else {}
        with self.lock:
            if branch not in info["branches"]:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            parent = info["branches"][branch]
            if header.get("parentCommit") and not parent.startswith(header["parentCommit"]):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(self.state["commits"][parent]["files"])
            for line in lines[1:]:
                op = line["value"]
                if line["key"] == "file":
                    data = base64.b64decode(op["content"])
                    files[op["path"]] = {"sha256": self._store(data), "size": len(data), "lfs": False}
                elif line["key"] == "lfsFile":
                    stored = self._object(op["oid"])
                    if not stored.is_file() or stored.stat().st_size != op.get("size", stored.stat().st_size):
                        raise HubError(422, f"LFS object {op['oid']} of {op['path']} was never uploaded")
                    files[op["path"]] = {"sha256": op["oid"], "size": stored.stat().st_size, "lfs": True}
                elif line["key"] in ("deletedFile", "deletedFolder"):
                    gone = op["path"].rstrip("/")
                    files = {p: f for p, f in files.items() if p != gone and not p.startswith(gone + "/")}
                else:
                    raise HubError(400, f"unknown commit operation {line['key']}")
            oid = self._commit(parent, files, header.get("summary", ""))
            info["branches"][branch] = oid
            info["commit_ids"].append(oid)
            self._save()
        return 200, {"success": True, "commitOid": oid, "commitUrl": f"{req.base}/{repo}/commit/{oid}", "pullRequestUrl": None}

    # ---------------------------------------------------------------- endpoints: downloading

    def resolve(self, req, user, body, repo, rev, path):
        info = self._repo(repo, user)
        oid = self._resolve(info, unquote(rev))
        file = self.state["commits"][oid]["files"].get(unquote(path))
        if file is None:
            raise HubError(404, f"{path} does not exist at {oid}", "EntryNotFound", **{"X-Repo-Commit": oid})
        if file["lfs"]:
            pointer = lfs_pointer(file["sha256"], file["size"])
            storage = req.base.replace("127.0.0.1", "localhost")
            return 302, b"", {"Location": f"{storage}/lfs-storage/{file['sha256']}", "X-Repo-Commit": oid,
                              "ETag": f'"{git_blob_sha1(pointer)}"', "X-Linked-Etag": f'"{file["sha256"]}"',
                              "X-Linked-Size": str(file["size"])}
        data = self._object(file["sha256"]).read_bytes()
        return 200, data, {"X-Repo-Commit": oid, "ETag": f'"{git_blob_sha1(data)}"', "Content-Type": "application/octet-stream"}

    def lfs_storage(self, req, user, body, oid):
        if not self._object(oid).is_file():
            raise HubError(404, "no such object")
        data = self._object(oid).read_bytes()
        start = int(m[1]) if (m := re.fullmatch(r"bytes=(\d+)-", req.headers.get("Range", ""))) else 0
        headers = {"ETag": f'"{oid}"', "Content-Type": "application/octet-stream"}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        return 206 if start else 200, data[start:], headers


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects

    def log_message(self, *args) -> None:  # the log is HubServer.log, not stderr
        pass

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while (size := int(self.rfile.readline().split(b";")[0], 16)) > 0:
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _dispatch(self, method: str) -> None:
        hub: HubServer = self.server.hub
        parts = urlsplit(self.path)
        self.query, self.base = parts.query, f"http://{self.headers['Host']}"
        raw = self._body()  # read before answering, so a kept-alive connection stays in step
        status, body, headers, fault = 500, b"", {}, None
        try:
            fault = hub._fault("GET" if method == "HEAD" else method, parts.path)
            if fault is not None and isinstance(fault["status"], int):
                raise HubError(fault["status"], "injected fault", **fault["headers"])
            auth = self.headers.get("Authorization", "")
            user = hub.tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
            if auth and user is None:  # the Hub refuses an unknown token everywhere, even on public files
                raise HubError(401, "Invalid credentials", **{"X-Error-Message": "Invalid credentials in Authorization header"})
            for verb, pattern, name in _ROUTES:
                if verb == ("GET" if method == "HEAD" else method) and (match := re.fullmatch(pattern, parts.path)):
                    break
            else:
                raise HubError(404, f"no route for {method} {parts.path}")
            payload = raw if name == "lfs_upload" else raw.decode() if name == "commit" else json.loads(raw or b"{}")
            answer = getattr(hub, name)(self, user, payload, **match.groupdict())
            status, body = answer[0], answer[1]
            headers = answer[2] if len(answer) > 2 else {"Content-Type": "application/json"}
            body = body if isinstance(body, bytes) else json.dumps(body).encode()
        except HubError as exc:
            status, headers = exc.status, {"Content-Type": "application/json", **exc.headers}
            body = json.dumps(exc.body).encode()
        except Exception as exc:  # a bug here, or a request this server does not understand: say so to the test
            status, headers, body = 500, {"X-Error-Message": f"test server: {type(exc).__name__}: {exc}"[:200]}, b""
        hub.log.append((method, parts.path, status))
        self._answer(method, status, body, headers, fault if status < 400 else None)

    def _answer(self, method: str, status: int, body: bytes, headers: dict, fault: dict | None) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method == "HEAD":
            return
        if fault is not None and fault["status"] == "cut":  # half the body, then the connection goes away
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        if fault is not None and fault["status"] == "flip":  # the right size, a wrong byte
            body = body[:-1] + bytes([body[-1] ^ 0xFF])
        self.wfile.write(body)
