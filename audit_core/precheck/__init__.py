"""事前提示: evaluate a draft prescription before it is issued, with the month's own check plugins on the
patient's slice of the data (``evaluate``), read from the plain JSON shape (``draft``) or a CDS Hooks
``order-sign`` request (``fhir``), answered as JSON or cards (``answer``); the doctors' override
reasons (``overrides``). docs/precheck.md is the integrator's guide."""
