"""One parser per SLO file form: native (streamverse/v1), Sloth (prometheus/v1 and its CRD), OpenSLO v1."""
