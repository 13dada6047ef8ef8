"""The local stack without Docker: template.yaml run on DynamoDB Local, cognito-local and moto.

``python -m local up | invoke | demo`` (see ``local/__main__.py``); ``docs/local.md`` explains it.
"""
