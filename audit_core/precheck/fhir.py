"""A CDS Hooks 2.0 ``order-sign`` request → a :class:`~mengui_core.precheck.draft.Draft`.

The mapping (docs/precheck.md shows it with an example): every ``MedicationRequest`` in
``context.draftOrders`` (a FHIR R4 Bundle) is one item of one prescription.

| draft | from |
| --- | --- |
| ``patient_id`` | ``context.patientId`` (else the request's ``subject.reference`` ``Patient/<id>``) |
| ``doctor_code`` | the request's ``requester.reference`` ``Practitioner/<code>`` (else ``context.userId``) |
| ``rx_date`` | ``authoredOn`` (date or dateTime; Beijing time); missing: now, in Beijing time |
| ``rx_id`` | ``groupIdentifier.value`` (the prescription number shared by its requests) |
| ``disease_codes`` | every ``reasonCode.coding.code`` |
| ``insurance_type`` | extension ``…/insurance-type`` (``valueString``) |
| item ``drug_code`` | the ``medicationCodeableConcept.coding`` of system :data:`DRUG_SYSTEM`, else the first coding |
| item ``drug_name`` | ``medicationCodeableConcept.text``, else that coding's ``display`` |
| item ``quantity`` | ``dispenseRequest.quantity.value`` |
| item ``days_supply`` | ``dispenseRequest.expectedSupplyDuration`` (``d``, ``wk`` or ``mo`` = 30 d) |
| item ``amount`` | extension :data:`AMOUNT_URL` (``valueMoney``: ``value`` in 元, ``currency`` CNY) on the request — FHIR R4's MedicationRequest has no price of its own |
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .draft import Draft, DraftError, parse_draft

BASE = "https://mengui-audit.cn/fhir/StructureDefinition/"
AMOUNT_URL = BASE + "amount"
INSURANCE_URL = BASE + "insurance-type"
DRUG_SYSTEM = "urn:mengui:nhsa-drug-code"  # 国家医保药品代码
BEIJING = timezone(timedelta(hours=8))
DAYS = {"d": 1, "day": 1, "days": 1, "wk": 7, "week": 7, "mo": 30, "month": 30}


def _reference(value, kind: str) -> str | None:
    if isinstance(value, dict):
        value = value.get("reference")
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    return value.split("/", 1)[1] if value.startswith(kind + "/") else value


def _extension(resource: dict, url: str):
    for ext in resource.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == url:
            return ext
    return None


def draft_from_order_sign(body: object, now: datetime | None = None) -> Draft:
    """The draft an ``order-sign`` request describes; :class:`DraftError` names the wrong field by its
    path in the request (``context.draftOrders.entry[0].resource.extension(amount)``)."""
    if not isinstance(body, dict):
        raise DraftError("(根)", "应为一个 JSON 对象（CDS Hooks 请求）", body)
    if body.get("hook") not in (None, "order-sign"):
        raise DraftError("hook", "应为 order-sign", body.get("hook"))
    context = body.get("context")
    if not isinstance(context, dict):
        raise DraftError("context", "应为一个对象（含 patientId、userId、draftOrders）", context)
    bundle = context.get("draftOrders")
    if not isinstance(bundle, dict) or not isinstance(bundle.get("entry"), list):
        raise DraftError("context.draftOrders", "应为 FHIR Bundle（含 entry 列表）", bundle)
    requests = []
    for n, entry in enumerate(bundle["entry"]):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "MedicationRequest":
            requests.append((f"context.draftOrders.entry[{n}].resource", resource))
    if not requests:
        raise DraftError("context.draftOrders.entry", "中没有 MedicationRequest（每个药品一条）")
    patient = context.get("patientId") or _reference(requests[0][1].get("subject"), "Patient")
    doctor = _reference(requests[0][1].get("requester"), "Practitioner") or _reference(context.get("userId"), "Practitioner")
    if not doctor:
        raise DraftError("context.userId", "应为开方医师（Practitioner/医师代码），或在 MedicationRequest.requester 中给出")
    authored = requests[0][1].get("authoredOn")
    if authored is None:
        authored = (now or datetime.now(BEIJING)).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(authored, str) and "T" in authored and (authored.endswith("Z") or "+" in authored[10:]
                                                            or authored[10:].count("-")):
        try:  # an instant with a zone: in Beijing time
            authored = datetime.fromisoformat(authored.replace("Z", "+00:00")).astimezone(BEIJING).strftime(
                "%Y-%m-%d %H:%M:%S")
        except ValueError:
            pass  # reported below with the field's name
    groups = {(r.get("groupIdentifier") or {}).get("value") for _, r in requests if isinstance(r.get("groupIdentifier"), dict)}
    groups.discard(None)
    if len(groups) > 1:
        raise DraftError("context.draftOrders.entry[].resource.groupIdentifier",
                         "不一致：一次请求只能审核一张处方（同一处方号）", sorted(groups))
    codes: list[str] = []
    insurance = None
    items = []
    for path, r in requests:
        for reason in r.get("reasonCode") or []:
            for coding in (reason or {}).get("coding") or []:
                code = (coding or {}).get("code")
                if isinstance(code, str) and code.strip() and code.strip() not in codes:
                    codes.append(code.strip())
        ext = _extension(r, INSURANCE_URL)
        if ext is not None and insurance is None:
            insurance = ext.get("valueString")
        concept = r.get("medicationCodeableConcept")
        if not isinstance(concept, dict):
            raise DraftError(f"{path}.medicationCodeableConcept", "不能为空（药品代码与名称）")
        codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
        chosen = next((c for c in codings if c.get("system") == DRUG_SYSTEM), codings[0] if codings else {})
        amount = _extension(r, AMOUNT_URL)
        if amount is None:
            raise DraftError(f"{path}.extension({AMOUNT_URL.rsplit('/', 1)[1]})",
                             f"不能缺少：药品金额（url {AMOUNT_URL}，valueMoney.value 以元计）")
        money = amount.get("valueMoney")
        if not isinstance(money, dict) or "value" not in money:
            raise DraftError(f"{path}.extension(amount).valueMoney", "应为 {\"value\": 金额（元）, \"currency\": \"CNY\"}", money)
        if money.get("currency", "CNY") != "CNY":
            raise DraftError(f"{path}.extension(amount).valueMoney.currency", "应为 CNY（人民币元）", money.get("currency"))
        dispense = r.get("dispenseRequest") or {}
        duration = dispense.get("expectedSupplyDuration")
        days = None
        if isinstance(duration, dict) and duration.get("value") is not None:
            unit = str(duration.get("code") or duration.get("unit") or "d").lower()
            if unit not in DAYS:
                raise DraftError(f"{path}.dispenseRequest.expectedSupplyDuration.code", "应为 d、wk 或 mo", unit)
            value = duration["value"]
            days = value * DAYS[unit] if isinstance(value, (int, float)) and not isinstance(value, bool) else value
        quantity = (dispense.get("quantity") or {}).get("value") if isinstance(dispense.get("quantity"), dict) else None
        items.append({"drug_code": chosen.get("code"), "drug_name": concept.get("text") or chosen.get("display"),
                      "quantity": quantity, "amount": money["value"], "days_supply": days})
    plain = {"patient_id": patient, "doctor_code": doctor, "rx_date": authored, "disease_codes": codes,
             "insurance_type": insurance, "rx_id": next(iter(groups), None), "items": items}
    try:
        return parse_draft(plain)
    except DraftError as ex:  # name the field where the order-sign request carries it
        raise DraftError(_fhir_path(ex.field, requests), ex.expected) from ex


def _fhir_path(field: str, requests) -> str:
    top = {"patient_id": "context.patientId", "doctor_code": "context.userId",
           "rx_date": "context.draftOrders.entry[].resource.authoredOn",
           "rx_id": "context.draftOrders.entry[].resource.groupIdentifier.value",
           "insurance_type": f"extension({INSURANCE_URL.rsplit('/', 1)[1]})"}
    if field in top:
        return top[field]
    if field.startswith("items["):
        index = int(field[6:field.index("]")])
        path = requests[index][0] if index < len(requests) else "context.draftOrders.entry[]"
        name = field.split(".", 1)[1] if "." in field else ""
        where = {"drug_name": "medicationCodeableConcept.text", "drug_code": "medicationCodeableConcept.coding.code",
                 "amount": "extension(amount).valueMoney.value", "days_supply": "dispenseRequest.expectedSupplyDuration.value",
                 "quantity": "dispenseRequest.quantity.value"}.get(name, name)
        return f"{path}.{where}" if where else path
    if field.startswith("disease_codes"):
        return "context.draftOrders.entry[].resource.reasonCode.coding.code"
    return field
