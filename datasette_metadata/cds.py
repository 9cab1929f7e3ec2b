"""The 事前 service over HTTP, beside the committee's site (routes registered by the Datasette plugin):

* ``GET /cds-services`` — CDS Hooks 2.0 discovery (public: it holds no data);
* ``POST /cds-services/mengui-order-sign`` — an ``order-sign`` request → ``{"cards": [...]}``;
* ``POST /cds-services/mengui-order-sign/feedback`` — CDS Hooks feedback: override reasons stored;
* ``POST /-/precheck`` — the plain draft (DESIGN §9) → ``{"flags": [...], ...}``;
* ``POST /-/precheck/feedback`` — override reasons in the plain shape.

Every endpoint but discovery needs an HIS token (``Authorization: Bearer …``, ``mengui tokens``):
401 without a valid one. A request that cannot be read gets 400 with a Chinese message naming the
field. The handlers are async; the SQLite work runs on a pool of threads (``MENGUI_PRECHECK_THREADS``,
default 4), each with its own connections, never on the event loop. Nothing here writes flags, and
nothing here logs a request's content (patient ids, names): an unexpected error is logged by its
type only.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from datasette.utils.asgi import Response

from mengui_core.db.schema import connect
from mengui_core.errors import MenguiError
from mengui_core.precheck.answer import answer_json, cards as make_cards
from mengui_core.precheck.draft import parse_draft, parse_json_text
from mengui_core.precheck.evaluate import Prechecker
from mengui_core.precheck.fhir import draft_from_order_sign
from mengui_core.precheck.overrides import CardMemory, CardNote, feedback_overrides, plain_overrides, record_overrides

from .site import mengui_database
from .tokens import TokenStore

SERVICE_ID = "mengui-order-sign"
#: where the site's guard (web.Guard) moves a service request's Authorization header, so that no
#: login plugin of the committee's site reads the HIS token (or chokes on it)
SERVICE_AUTHORIZATION = b"x-mengui-authorization"
THREADS_ENV = "MENGUI_PRECHECK_THREADS"
DISCOVERY = {"services": [{
    "hook": "order-sign",
    "id": SERVICE_ID,
    "title": "门规处方事前提示",
    "description": "签署门规处方前，按医院月度审核的同一套规则（限额、重复用药、相同疗效药品、门规认定、医师定岗资格等）"
                   "检查草稿处方，返回月度审核将会标记的问题及可据以修改的数字。",
    "usageRequirements": "需要 HIS 令牌（Authorization: Bearer，由医保办用 mengui tokens add 生成）；"
                         "药品金额放在 MedicationRequest 的扩展 https://mengui-audit.cn/fhir/StructureDefinition/amount 中。",
}]}


class Service:
    """One per served database: the evaluator, the tokens, the recent cards and the thread pool."""

    def __init__(self, db_path):
        self.db_path = db_path
        self.prechecker = Prechecker(db_path)
        self.tokens = TokenStore(db_path)
        self.cards = CardMemory()
        threads = os.environ.get(THREADS_ENV, "").strip()
        self.executor = ThreadPoolExecutor(int(threads) if threads.isdigit() and int(threads) > 0 else 4,
                                           thread_name_prefix="mengui-precheck")

    async def run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)


async def service(datasette) -> Service:
    found = getattr(datasette, "_mengui_precheck", None)
    if found is None:
        db = await mengui_database(datasette)
        found = datasette._mengui_precheck = Service(db.path)
    return found


def _json(data, status: int = 200) -> Response:
    """JSON with the Chinese as it is (UTF-8), not escaped."""
    return Response(json.dumps(data, ensure_ascii=False), status=status,
                    content_type="application/json; charset=utf-8")


def _error(status: int, message: str, **extra) -> Response:
    response = _json({"error": message, "status": status, **extra}, status=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="mengui-precheck"'
    return response


def _client(request, svc: Service) -> str | None:
    header = request.headers.get(SERVICE_AUTHORIZATION.decode(), "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return svc.tokens.name_of(token.strip())


UNAUTHORIZED = ("缺少或无效的访问令牌：请在请求头中提供 Authorization: Bearer <令牌>（由医保办用 mengui tokens add 生成，"
                "每个 HIS 一个）。")


async def _guarded(request, datasette, handle):
    """Authenticate, read the JSON body, run ``handle(svc, client, body)``; errors as JSON."""
    svc = await service(datasette)
    client = _client(request, svc)  # a stat of the users file; read again only when it changed
    if client is None:
        return _error(401, UNAUTHORIZED)
    if request.method != "POST":
        return _error(405, "请用 POST 提交 JSON")
    try:
        body = parse_json_text(await request.post_body())
        return await handle(svc, client, body)
    except MenguiError as ex:  # DraftError included: names the field
        return _error(400, str(ex), field=getattr(ex, "field", None))
    except Exception as ex:  # logged by type only: the message could carry a patient's data
        print(f"mengui precheck: {type(ex).__name__} while answering {request.path}", file=sys.stderr)
        return _error(500, "事前提示服务内部错误，请让医生继续开方（按“失败放行”处理），并联系医保办。")


async def discovery(request, datasette):
    return _json(DISCOVERY)


async def order_sign(request, datasette):
    async def handle(svc, client, body):
        draft = draft_from_order_sign(body)
        evaluation = await svc.run(svc.prechecker.evaluate, draft)
        cards = make_cards(evaluation)
        for card, flag in zip(cards, evaluation.flags):
            svc.cards.remember(card["uuid"], CardNote(draft.patient_id, draft.doctor_code, draft.rx_date, flag.check_id,
                                                      draft.rx_id, flag.level, card["summary"]))
        return _json({"cards": cards})

    return await _guarded(request, datasette, handle)


async def plain(request, datasette):
    async def handle(svc, client, body):
        draft = parse_draft(body)
        evaluation = await svc.run(svc.prechecker.evaluate, draft)
        return _json(answer_json(evaluation))

    return await _guarded(request, datasette, handle)


def _store(db_path, overrides) -> int:
    conn = connect(db_path)
    try:
        return record_overrides(conn, overrides)
    finally:
        conn.close()


async def feedback(request, datasette):
    async def handle(svc, client, body):
        overrides, unknown = feedback_overrides(body, svc.cards, client)
        stored = await svc.run(_store, svc.db_path, overrides)
        if unknown and not stored:
            return _error(404, "找不到这些提示卡片（服务重启后或很久以前的卡片无法对应到处方）；"
                               "可改用 /-/precheck/feedback 按处方提交医师理由。", unknown_cards=unknown)
        return _json({"stored": stored, "unknown_cards": unknown})

    return await _guarded(request, datasette, handle)


async def plain_feedback(request, datasette):
    async def handle(svc, client, body):
        stored = await svc.run(_store, svc.db_path, plain_overrides(body, client))
        return _json({"stored": stored})

    return await _guarded(request, datasette, handle)


ROUTES = [
    (r"^/cds-services$", discovery),
    (rf"^/cds-services/{SERVICE_ID}$", order_sign),
    (rf"^/cds-services/{SERVICE_ID}/feedback$", feedback),
    (r"^/-/precheck$", plain),
    (r"^/-/precheck/feedback$", plain_feedback),
]
PATHS = ("/cds-services", "/-/precheck")


def is_service_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PATHS)
