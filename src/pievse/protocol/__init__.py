"""The OCPP protocol layer. Importing it first registers ``ocpp``'s version packages without
their ``ChargePoint`` (:mod:`pievse.protocol.ocpp_packages`), so that the message modules the
adapters use do not bring in ``jsonschema``."""

from pievse.protocol.ocpp_packages import defer_charge_points

defer_charge_points()
