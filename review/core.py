"""The review logic: list the pending reviews on the SQS review queue, show one, answer one.

A review is one message the `review` state machine sent with `.waitForTaskToken`; its execution
waits until someone calls SendTaskSuccess with `{"label": ..., "reviewer": ...}`. Both the CLI
(`python -m review`) and a reviewer web page call this module; it talks to AWS only through the
boto3 clients it is given.

Messages are read with ReceiveMessage, so reading hides them for a short while. Every message
this module does not delete is made visible again at once (ChangeMessageVisibility to 0), and a
crash only hides them for `HOLD_SECONDS`: listing never loses a review.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from lambdas.shared import bounded_json
from lambdas.shared.documents import REVIEW_LABELS, ReviewAnswer
from lambdas.shared.errors import InvalidEvent

LABELS = REVIEW_LABELS
# How long a scan hides the messages it reads before putting them back (and the worst case for
# a scan that dies half-way). Short, so other reviewers barely notice a listing.
HOLD_SECONDS = 30
# Bound on one scan of the queue (ReceiveMessage returns at most 10 messages per call).
MAX_SCANNED = 1000
# Step Functions' answers for a token whose task is over: expired, answered, or its execution
# ended or was deleted.
CLOSED_TASK_ERRORS = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}
# The review machine's outcomes after a reviewer's answer (stepfunctions/README.md).
ANSWERED_OUTCOMES = {"RoutedByReviewer", "Rejected"}
MISSING_OBJECT_ERRORS = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}


class ReviewError(Exception):
    """A review request that cannot be carried out; the message says why, on one line."""


class UnknownLabel(ReviewError):
    """The answer is not one of LABELS."""


class UnknownReview(ReviewError):
    """No pending review has this id (and none that ended could be found either)."""


class ReviewClosed(ReviewError):
    """The review's task is over: it expired, or its execution finished or was stopped."""


class AlreadyAnswered(ReviewClosed):
    """Someone answered this review before (its execution went on with their label)."""


class ImageMissing(ReviewError):
    """The image the review is about is not in S3 (deleted, or the wrong bucket)."""


class MalformedReview(ReviewError):
    """A queue message that is not a review message (not JSON, or no task token)."""


@dataclass(frozen=True)
class Review:
    """One pending review, as read from its queue message (the task token is never printed)."""

    id: str
    message_id: str
    task_token: str = field(repr=False)
    execution_arn: str
    reason: str
    s3_bucket: str
    s3_key: str
    requested_at: datetime
    body: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Review:
        message_id = str(message.get("MessageId", "?"))
        try:
            # bounded: anyone who may send to the queue chooses these bytes
            body = bounded_json.loads(message["Body"], max_bytes=256 * 1024, what="message body")
        except (KeyError, TypeError, ValueError) as error:
            raise MalformedReview(f"message {message_id} is not JSON: {error}") from error
        if not isinstance(body, dict) or not isinstance(body.get("task_token"), str):
            raise MalformedReview(f"message {message_id} has no task_token")
        execution_arn = str(body.get("execution_id") or "")
        bucket, key = _image_location(body)
        return cls(
            # The execution's name: what the reviewer types, and what finds the execution once
            # the message is gone. Messages without one fall back to the SQS message id.
            id=execution_arn.rsplit(":", 1)[-1] if execution_arn else message_id,
            message_id=message_id,
            task_token=body["task_token"],
            execution_arn=execution_arn,
            reason=str(body.get("reason") or "low_confidence"),
            s3_bucket=bucket,
            s3_key=key,
            requested_at=_requested_at(body, message),
            body=body,
        )

    @property
    def image(self) -> str:
        return f"s3://{self.s3_bucket}/{self.s3_key}"

    @property
    def prediction(self) -> str:
        """`motorcycle 0.71`: the model's label and its confidence, as far as the message says."""
        found = self.body.get("classification")
        if not isinstance(found, Mapping):
            return "?"
        confidence = found.get("confidence")
        shown = f" {confidence:.2f}" if isinstance(confidence, int | float) else ""
        return f"{found.get('label', '?')}{shown}"

    def age(self, now: datetime | None = None) -> timedelta:
        return (now or datetime.now(UTC)) - self.requested_at

    def details(self) -> dict[str, Any]:
        """Everything the message says except the task token (a bearer secret)."""
        shown = {k: v for k, v in self.body.items() if k != "task_token"}
        return {"id": self.id, "message_id": self.message_id, **shown, "image": self.image}


def _image_location(body: Mapping[str, Any]) -> tuple[str, str]:
    bucket, key = body.get("s3_bucket"), body.get("s3_key")
    image = body.get("image")
    if (not bucket or not key) and isinstance(image, str) and image.startswith("s3://"):
        bucket, _, key = image.removeprefix("s3://").partition("/")
    return str(bucket or ""), str(key or "")


def _requested_at(body: Mapping[str, Any], message: Mapping[str, Any]) -> datetime:
    stamp = body.get("requested_at")
    if isinstance(stamp, str):
        try:
            parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    sent_ms = message.get("Attributes", {}).get("SentTimestamp")
    if sent_ms:
        return datetime.fromtimestamp(int(sent_ms) / 1000, UTC)
    return datetime.now(UTC)


@dataclass(frozen=True)
class Answer:
    review: Review
    label: str
    reviewer: str


@dataclass(frozen=True)
class Listing:
    reviews: list[Review]
    unreadable: int  # messages on the queue that are not review messages (left there)


@dataclass
class ReviewDesk:
    """The review queue of one stage, with the clients to act on it.

    `review_state_machine_arn`, when known, lets `answer` tell a review that was already
    answered (or expired) from an id that never existed, once its message is gone.
    """

    sqs: Any
    sfn: Any
    s3: Any
    queue_url: str
    review_state_machine_arn: str | None = None
    sts: Any = None

    # --- reading the queue ---------------------------------------------------------------------

    def _scan(self) -> Iterator[list[dict[str, Any]]]:
        """Receive every visible message once, in batches; each message stays hidden for
        HOLD_SECONDS unless the caller releases or deletes it."""
        seen: set[str] = set()
        while len(seen) < MAX_SCANNED:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=HOLD_SECONDS,
                # Long polling asks every SQS server, so no message is missed by sampling;
                # 1 s is what an empty queue costs.
                WaitTimeSeconds=1,
                AttributeNames=["SentTimestamp"],
            ).get("Messages", [])
            fresh = [m for m in batch if m["MessageId"] not in seen]
            # A standard queue may deliver a message twice: hand the copies back at once.
            self._release([m for m in batch if m["MessageId"] in seen])
            if not fresh:
                return
            seen.update(m["MessageId"] for m in fresh)
            yield fresh

    def _release(self, messages: list[dict[str, Any]]) -> None:
        """Make messages visible again now (batches of 10, the SQS limit)."""
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(chunk)
                ],
            )

    def pending(self) -> Listing:
        """Every pending review, oldest first; the queue is left as it was."""
        messages = [m for batch in self._scan() for m in batch]
        self._release(messages)
        reviews, unreadable = [], 0
        for message in messages:
            try:
                reviews.append(Review.from_message(message))
            except MalformedReview:
                unreadable += 1
        return Listing(sorted(reviews, key=lambda r: r.requested_at), unreadable)

    def _take(self, review_id: str) -> tuple[Review, dict[str, Any]] | None:
        """Find a review by id and keep its message hidden; every other message is released."""
        found: tuple[Review, dict[str, Any]] | None = None
        others = []
        for batch in self._scan():
            for message in batch:
                try:
                    review: Review | None = Review.from_message(message)
                except MalformedReview:
                    review = None
                if found is None and review and review_id in (review.id, review.message_id):
                    found = (review, message)
                else:
                    others.append(message)
            if found is not None:
                break  # the rest of the queue stays untouched
        self._release(others)
        return found

    def get(self, review_id: str) -> Review:
        """The pending review with this id (its message stays on the queue)."""
        taken = self._take(review_id)
        if taken is None:
            raise self._gone(review_id)
        self._release([taken[1]])
        return taken[0]

    def image(self, review: Review) -> bytes:
        """The image under review, from S3."""
        if not review.s3_bucket or not review.s3_key:
            raise ImageMissing(f"review {review.id} names no image (s3_bucket/s3_key)")
        try:
            response = self.s3.get_object(Bucket=review.s3_bucket, Key=review.s3_key)
        except ClientError as error:
            if _code(error) in MISSING_OBJECT_ERRORS:
                raise ImageMissing(
                    f"the image of review {review.id} is gone: {review.image}"
                ) from error
            raise
        return bytes(response["Body"].read())

    # --- answering -----------------------------------------------------------------------------

    def answer(self, review_id: str, label: str, reviewer: str | None = None) -> Answer:
        """Hand the label to the waiting execution (SendTaskSuccess), then delete the message."""
        if label not in LABELS:
            raise UnknownLabel(f"unknown label {label!r}: answer one of {', '.join(LABELS)}")
        try:  # the document the review machine reads: refused here, before the token is spent
            sent = ReviewAnswer.from_dict(
                {"label": label, "reviewer": reviewer or self.caller_identity()}, "answer"
            )
        except InvalidEvent as error:
            raise ReviewError(str(error)) from None
        taken = self._take(review_id)
        if taken is None:
            raise self._gone(review_id)
        review, message = taken
        try:
            self.sfn.send_task_success(
                taskToken=review.task_token,
                output=json.dumps(sent.to_dict()),
            )
        except ClientError as error:
            if _code(error) not in CLOSED_TASK_ERRORS:
                self._release([message])  # a transient failure: the review stays pending
                raise
            # Nobody can answer this message any more: drop it, say why.
            self._delete(message)
            raise self._closed(review.id, review.execution_arn, _code(error)) from error
        self._delete(message)
        return Answer(review, sent.label, sent.reviewer)

    def caller_identity(self) -> str:
        """The ARN the clients act as: the default reviewer id."""
        if self.sts is None:
            raise ReviewError(
                "no reviewer id: pass one (--reviewer) or give the desk an STS client"
            )
        return str(self.sts.get_caller_identity()["Arn"])

    def _delete(self, message: Mapping[str, Any]) -> None:
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    # --- reviews that are not pending ----------------------------------------------------------

    def _gone(self, review_id: str) -> ReviewError:
        """The error for an id with no message: answered or expired if its execution exists."""
        if self.review_state_machine_arn:
            head, _, machine = self.review_state_machine_arn.rpartition(":stateMachine:")
            arn = f"{head}:execution:{machine}:{review_id}"
            closed = self._closed(review_id, arn, None)
            if not isinstance(closed, UnknownReview):
                return closed
        return UnknownReview(
            f"no pending review {review_id!r} (see `list`; answered or expired reviews leave "
            "the queue)"
        )

    def _closed(self, review_id: str, execution_arn: str, sfn_error: str | None) -> ReviewError:
        """Say what became of a review's execution, as far as DescribeExecution tells."""
        described = self._describe(execution_arn)
        if described is None:
            if sfn_error is None:
                return UnknownReview(f"no pending review {review_id!r}")
            return ReviewClosed(
                f"review {review_id} can no longer be answered: the task expired or "
                f"finished ({sfn_error})"
            )
        status = described["status"]
        output = _parse_json(described.get("output"))
        answered = _answer_in(output)
        outcome = output.get("outcome") if isinstance(output, dict) else None
        if answered or outcome in ANSWERED_OUTCOMES or (status == "RUNNING" and sfn_error):
            # A closed token on a running execution: it got an answer and is acting on it.
            return AlreadyAnswered(f"review {review_id} was already answered{answered}")
        if status == "RUNNING":
            return UnknownReview(
                f"review {review_id} is not on the queue right now although its execution "
                "runs (just answered, or another reviewer holds it for a moment): `list` again"
            )
        if status == "SUCCEEDED":
            ended = f" with outcome {outcome}" if outcome else ""
            return ReviewClosed(
                f"review {review_id} can no longer be answered: its execution finished{ended}"
            )
        return ReviewClosed(
            f"review {review_id} can no longer be answered: its execution ended {status}"
        )

    def _describe(self, execution_arn: str) -> dict[str, Any] | None:
        if ":execution:" not in execution_arn:
            return None
        try:
            return dict(self.sfn.describe_execution(executionArn=execution_arn))
        except ClientError as error:
            if _code(error) in {"ExecutionDoesNotExist", "InvalidArn", "AccessDeniedException"}:
                return None
            raise


def _parse_json(text: object) -> object:
    try:
        return bounded_json.loads(text, max_bytes=256 * 1024) if isinstance(text, str) else None
    except ValueError:
        return None


def _answer_in(output: object) -> str:
    """`: bicycle by <reviewer>` when an execution's output carries a reviewer's answer."""
    if not isinstance(output, dict):
        return ""
    for source in (output, output.get("review"), output.get("decision")):
        if isinstance(source, dict) and source.get("reviewer") and source.get("label"):
            return f": {source['label']} by {source['reviewer']}"
    return ""


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
