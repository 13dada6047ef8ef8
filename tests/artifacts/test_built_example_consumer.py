"""The built example consumer runs on its own: the consumer kit and powertools' batch utility from
its artifact, no pydantic, against a moto server."""

from __future__ import annotations

from local.support import EVENTS, create_table_kwargs
from tests.artifacts.conftest import BUILD, client, run_built

TABLE = "example-consumer-artifact-test"


def test_built_example_consumer_applies_the_sample_batch(endpoint: str) -> None:
    # Given the consumer's table and the sample batch (an update before its creation, the creation twice)
    dynamodb = client("dynamodb", endpoint)
    dynamodb.create_table(**create_table_kwargs("ExampleConsumerTable", TABLE))

    # When the built function handles it
    result = run_built(
        "ExampleConsumerFunction", EVENTS / "sqs" / "example_consumer_batch.json", endpoint, CONSUMER_TABLE_NAME=TABLE
    )

    # Then no message failed and the copy holds the update's plan
    assert result == {"batchItemFailures": []}
    (item,) = dynamodb.scan(TableName=TABLE)["Items"]
    assert item["profile"]["M"]["plan"] == {"S": "pro"}
    assert item["deleted"] == {"BOOL": False}


def test_built_example_consumer_ships_no_pydantic() -> None:
    folder = BUILD / "ExampleConsumerFunction"
    assert (folder / "profile_sync_consumer" / "replica.py").is_file()
    assert not [path for path in folder.iterdir() if path.name.startswith(("pydantic", "annotated_types"))]
