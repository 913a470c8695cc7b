"""The Lambda context a handler is called with: the two attributes the handlers read."""


class Context:
    function_name = "test"
    aws_request_id = "req-1"
