"""Sizing a plan: the training recipe per data regime, the ladder of candidate networks, the
device and its calibration, and the choice that fits the time budget.

The modules are small and torch-free except :mod:`medunet.planning.calibrate`, which
:class:`medunet.planning.device_profile.DeviceProfile` imports only when it times a real step.
"""
