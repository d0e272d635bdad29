"""Automated voice calls through eSMS.vn for Django projects."""

__version__ = "0.1.0.dev0"
