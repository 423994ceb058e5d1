"""Job kinds the local AWS executes; each follows its SageMaker container contract."""
