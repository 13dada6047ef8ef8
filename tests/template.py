"""Kept only for tests/artifacts and bench/__main__.py, which import these names from here until
they import local.support, where template.yaml as data now lives. Delete it then."""

from local.support import ROOT, create_table_kwargs, resource, resources_of_type, template

__all__ = ["ROOT", "create_table_kwargs", "resource", "resources_of_type", "template"]
