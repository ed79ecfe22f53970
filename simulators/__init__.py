"""A simulated battery plant over real Modbus: meters, scales, line controllers, faults, truth."""
