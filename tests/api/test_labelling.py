"""Labelling through the official client on both channels: tasks, a labeller taking inputs and
labelling them for the task, a reviewer approving and rejecting, and the counts that follow."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from tests.api.conftest import Api
from tests.api.test_apps_keys import create_app
from tests.images import png_bytes

SUCCESS = status_code_pb2.SUCCESS
Task = resources_pb2.Task


def ua(app_id: str) -> resources_pb2.UserAppIDSet:
    return resources_pb2.UserAppIDSet(user_id="me", app_id=app_id)


def my_user_id(api: Api) -> str:
    got = api.stub.GetUser(
        service_pb2.GetUserRequest(user_app_id=resources_pb2.UserAppIDSet(user_id="me")),
        metadata=api.pat,
    )
    assert got.status.code == SUCCESS, got.status
    user_id: str = got.user.id
    return user_id


def add_images(api: Api, app_id: str, *input_ids: str) -> None:
    data = resources_pb2.Data(image=resources_pb2.Image(base64=png_bytes()))
    response = api.stub.PostInputs(
        service_pb2.PostInputsRequest(
            user_app_id=ua(app_id),
            inputs=[resources_pb2.Input(id=input_id, data=data) for input_id in input_ids],
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status


def labelling_task(task_id: str, workers: list[str], reviewers: list[str]) -> Task:
    return Task(
        id=task_id,
        name="Label pets",
        type=Task.CONCEPTS_CLASSIFICATION,
        concept_ids=["cat", "dog"],
        worker=resources_pb2.TaskWorker(strategy=resources_pb2.TaskWorker.FULL, user_ids=workers),
        review=resources_pb2.TaskReview(
            strategy=resources_pb2.TaskReview.MANUAL, user_ids=reviewers
        ),
        input_source=resources_pb2.TaskInputSource(type=resources_pb2.TaskInputSource.ALL_INPUTS),
    )


def post_task(api: Api, app_id: str, task: Task) -> Any:
    return api.stub.PostTasks(
        service_pb2.PostTasksRequest(user_app_id=ua(app_id), tasks=[task]), metadata=api.pat
    )


def put_assignments(api: Api, app_id: str, task_id: str, **fields: Any) -> Any:
    response = api.stub.PutTaskAssignments(
        service_pb2.PutTaskAssignmentsRequest(user_app_id=ua(app_id), task_id=task_id, **fields),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    return response


def label(api: Api, app_id: str, task_id: str, input_id: str, concept: str) -> str:
    response = api.stub.PostAnnotations(
        service_pb2.PostAnnotationsRequest(
            user_app_id=ua(app_id),
            annotations=[
                resources_pb2.Annotation(
                    input_id=input_id,
                    task_id=task_id,
                    data=resources_pb2.Data(
                        concepts=[resources_pb2.Concept(id=concept, value=1.0)]
                    ),
                )
            ],
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    annotation = response.annotations[0]
    assert annotation.task_id == task_id
    assert annotation.status.code == status_code_pb2.ANNOTATION_PENDING
    annotation_id: str = annotation.id
    return annotation_id


def annotation_status(api: Api, app_id: str, input_id: str, annotation_id: str) -> int:
    got = api.stub.GetAnnotation(
        service_pb2.GetAnnotationRequest(
            user_app_id=ua(app_id), input_id=input_id, annotation_id=annotation_id
        ),
        metadata=api.pat,
    )
    assert got.status.code == SUCCESS, got.status
    code: int = got.annotation.status.code
    return code


def counts(api: Api, method: str, app_id: str, task_id: str) -> dict[str, tuple[int, ...]]:
    response = getattr(api.stub, method)(
        service_pb2.GetTaskCountRequest(user_app_id=ua(app_id), task_id=task_id),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    assert response.task_id == task_id
    return {
        c.user_id: (c.pending, c.awaiting_review, c.success, c.review_denied)
        for c in response.counts
    }


def test_task_crud_and_paging(api: Api) -> None:
    app = create_app(api).id
    me = my_user_id(api)
    for task_id in ("t1", "t2", "t3"):
        posted = post_task(api, app, labelling_task(task_id, [me], [me]))
        assert posted.status.code == SUCCESS, posted.status
        assert posted.tasks[0].worker.user_ids == [me]

    taken = post_task(api, app, labelling_task("t1", [me], [me]))
    assert taken.status.code == status_code_pb2.CONN_INVALID_REQUEST, taken.status
    assert "t1" in taken.status.description + taken.status.details
    page = api.stub.ListTasks(
        service_pb2.ListTasksRequest(user_app_id=ua(app), page=2, per_page=2), metadata=api.pat
    )
    assert page.status.code == SUCCESS, page.status
    assert len(page.tasks) == 1
    mine = api.stub.ListTasks(
        service_pb2.ListTasksRequest(user_app_id=ua(app), worker_user_ids=["nobody"]),
        metadata=api.pat,
    )
    assert mine.status.code == SUCCESS and len(mine.tasks) == 0

    changed = labelling_task("t1", [me, "someone"], [me])
    changed.name = "Label pets again"
    patched = api.stub.PatchTasks(
        service_pb2.PatchTasksRequest(user_app_id=ua(app), tasks=[changed], action="overwrite"),
        metadata=api.pat,
    )
    assert patched.status.code == SUCCESS, patched.status
    got = api.stub.GetTask(
        service_pb2.GetTaskRequest(user_app_id=ua(app), task_id="t1"), metadata=api.pat
    )
    assert got.status.code == SUCCESS, got.status
    assert (got.task.name, list(got.task.worker.user_ids)) == ("Label pets again", [me, "someone"])
    assert list(got.task.concept_ids) == ["cat", "dog"]
    listed = api.stub.ListTasks(
        service_pb2.ListTasksRequest(user_app_id=ua(app), worker_user_ids=["someone"]),
        metadata=api.pat,
    )
    assert [task.id for task in listed.tasks] == ["t1"]

    deleted = api.stub.DeleteTasks(
        service_pb2.DeleteTasksRequest(user_app_id=ua(app), ids=["t2"]), metadata=api.pat
    )
    assert deleted.status.code == SUCCESS, deleted.status
    gone = api.stub.GetTask(
        service_pb2.GetTaskRequest(user_app_id=ua(app), task_id="t2"), metadata=api.pat
    )
    assert gone.status.code == status_code_pb2.CONN_DOES_NOT_EXIST, gone.status


def test_what_clarion_cannot_run_is_refused_with_a_reason(api: Api) -> None:
    app = create_app(api).id
    me = my_user_id(api)
    consensus = labelling_task("c1", [me], [])
    consensus.review.strategy = resources_pb2.TaskReview.CONSENSUS
    saved_search = labelling_task("c2", [me], [me])
    saved_search.input_source.type = resources_pb2.TaskInputSource.SAVED_SEARCH
    no_workers = labelling_task("c3", [], [me])
    missing_dataset = labelling_task("c4", [me], [me])
    missing_dataset.input_source.CopyFrom(
        resources_pb2.TaskInputSource(type=resources_pb2.TaskInputSource.DATASET, id="nope")
    )
    for task, words in (
        (consensus, "Consensus review"),
        (saved_search, "saved search"),
        (no_workers, "worker.user_ids"),
        (missing_dataset, "nope"),
    ):
        response = post_task(api, app, task)
        assert response.status.code != SUCCESS, task.id
        assert words in response.status.description + response.status.details, response.status


def test_a_labeller_labels_and_a_reviewer_approves_or_rejects(api: Api) -> None:
    app = create_app(api).id
    me = my_user_id(api)
    add_images(api, app, "in-a", "in-b", "in-c")
    assert post_task(api, app, labelling_task("pets", [me], [me])).status.code == SUCCESS

    # The labeller takes the next inputs: all three, and the same ones again until submitted.
    following = api.stub.ListNextTaskAssignments(
        service_pb2.ListNextTaskAssignmentsRequest(user_app_id=ua(app), task_id="pets"),
        metadata=api.pat,
    )
    assert following.status.code == SUCCESS, following.status
    assert [i.id for i in following.inputs] == ["in-a", "in-b", "in-c"]
    started = put_assignments(api, app, "pets", action=service_pb2.LABEL_START)
    by_input = {a.input.id: a for a in started.task_assignments}
    assert set(by_input) == {"in-a", "in-b", "in-c"}
    assert {a.status.code for a in by_input.values()} == {status_code_pb2.TASK_ASSIGNMENT_PENDING}
    assert counts(api, "GetTaskInputCount", app, "pets") == {me: (3, 0, 0, 0)}

    cat = label(api, app, "pets", "in-a", "cat")
    dog = label(api, app, "pets", "in-b", "dog")
    submit = service_pb2.LabelSubmitConfig(task_assignments=[by_input["in-a"], by_input["in-b"]])
    submitted = put_assignments(
        api, app, "pets", action=service_pb2.LABEL_SUBMIT, label_submit_config=submit
    )
    assert {a.status.code for a in submitted.task_assignments} == {
        status_code_pb2.TASK_ASSIGNMENT_AWAITING_REVIEW
    }
    assert annotation_status(api, app, "in-a", cat) == status_code_pb2.ANNOTATION_AWAITING_REVIEW
    assert counts(api, "GetTaskInputCount", app, "pets") == {me: (1, 2, 0, 0)}

    # The reviewer sees the two submissions, approves one and rejects the other.
    review = put_assignments(api, app, "pets", action=service_pb2.REVIEW_START)
    assert {a.input.id for a in review.task_assignments} == {"in-a", "in-b"}
    approve = service_pb2.ReviewApproveConfig(task_assignments=[by_input["in-a"]])
    put_assignments(
        api, app, "pets", action=service_pb2.REVIEW_APPROVE, review_approve_config=approve
    )
    reject = service_pb2.ReviewRejectConfig(task_assignments=[by_input["in-b"]])
    put_assignments(api, app, "pets", action=service_pb2.REVIEW_REJECT, review_reject_config=reject)

    assert annotation_status(api, app, "in-a", cat) == status_code_pb2.ANNOTATION_SUCCESS
    assert annotation_status(api, app, "in-b", dog) == status_code_pb2.ANNOTATION_REVIEW_DENIED
    assert counts(api, "GetTaskInputCount", app, "pets") == {me: (1, 0, 1, 1)}
    assert counts(api, "GetTaskAnnotationCount", app, "pets") == {me: (0, 0, 1, 1)}
    workers = api.stub.ListAnnotationWorkers(
        service_pb2.ListAnnotationWorkersRequest(user_app_id=ua(app)), metadata=api.pat
    )
    assert [w.user.id for w in workers.workers] == [me]

    # Second thoughts on the rejected label: its status set back to success for the task.
    patched = api.stub.PatchAnnotationsStatus(
        service_pb2.PatchAnnotationsStatusRequest(
            user_app_id=ua(app),
            task_id="pets",
            user_ids=[me],
            status_codes=[status_code_pb2.ANNOTATION_REVIEW_DENIED],
            status_code=status_code_pb2.ANNOTATION_SUCCESS,
            action="overwrite",
        ),
        metadata=api.pat,
    )
    assert patched.status.code == SUCCESS, patched.status
    assert patched.updated_count == 1
    assert annotation_status(api, app, "in-b", dog) == status_code_pb2.ANNOTATION_SUCCESS


def test_only_the_tasks_labellers_and_reviewers_take_part(api: Api) -> None:
    app = create_app(api).id
    me = my_user_id(api)
    add_images(api, app, "x")
    assert (
        post_task(api, app, labelling_task("theirs", ["someone"], ["someone"])).status.code
        == SUCCESS
    )

    taking = api.stub.ListNextTaskAssignments(
        service_pb2.ListNextTaskAssignmentsRequest(user_app_id=ua(app), task_id="theirs"),
        metadata=api.pat,
    )
    assert taking.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES, taking.status
    assert me in taking.status.description and "worker.user_ids" in taking.status.description
    reviewing = api.stub.PutTaskAssignments(
        service_pb2.PutTaskAssignmentsRequest(
            user_app_id=ua(app), task_id="theirs", action=service_pb2.REVIEW_START
        ),
        metadata=api.pat,
    )
    assert reviewing.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES, reviewing.status
    labelling = api.stub.PostAnnotations(
        service_pb2.PostAnnotationsRequest(
            user_app_id=ua(app),
            annotations=[resources_pb2.Annotation(input_id="x", task_id="theirs")],
        ),
        metadata=api.pat,
    )
    assert labelling.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES, labelling.status
    unknown = api.stub.ListNextTaskAssignments(
        service_pb2.ListNextTaskAssignmentsRequest(user_app_id=ua(app), task_id="missing"),
        metadata=api.pat,
    )
    assert unknown.status.code == status_code_pb2.CONN_DOES_NOT_EXIST, unknown.status


def test_label_orders_answer_not_implemented_saying_what_to_use(api: Api) -> None:
    app = create_app(api).id
    response = api.stub.ListLabelOrders(
        service_pb2.ListLabelOrdersRequest(user_app_id=ua(app)), metadata=api.pat
    )
    assert response.status.code == status_code_pb2.NOT_IMPLEMENTED, response.status
    assert "PostTasks" in response.status.description
