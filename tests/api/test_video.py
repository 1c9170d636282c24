"""Video inputs through the official client on both channels (issue 24).

The videos are made here with PyAV from the test photos (tests/videos.py): no downloads.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from functools import cache
from typing import Any

import httpx
import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from PIL import Image

from clarion.testing import RunningServer, running_server
from tests.api.conftest import Api, official_stub
from tests.api.photos import astronaut, originals, real_photo
from tests.api.test_apps_keys import create_app
from tests.api.test_reindex import SFW, moderation_workflow
from tests.api.test_training import (
    concept,
    image_input,
    new_app,
    post_inputs,
    post_model,
    train,
    until,
    wait_trained,
)
from tests.images import ImageServer, image_server
from tests.videos import animated_gif, video_bytes

SUCCESS = status_code_pb2.SUCCESS
GENERAL = "general-image-recognition"
# One second each, in this order: photos the model tells apart (a dog, a sea, a coffee cup).
PHOTOS = ("dog", "sea", "coffee")
SIZE = (320, 240)
MAX_SECONDS = 5  # this server's video duration cap


@cache
def picture(name: str) -> Image.Image:
    photo = originals().get(name) or Image.open(io.BytesIO(real_photo(name)))
    return photo.convert("RGB").resize(SIZE)


@cache
def three_seconds(container: str = "mp4", codec: str = "libx264") -> bytes:
    pictures = [picture(name) for name in PHOTOS]
    return video_bytes(pictures, container=container, codec=codec, size=SIZE)


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def video_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(
        tmp_path_factory.mktemp("video"), allow_private_urls=True, video_max_seconds=MAX_SECONDS
    ) as running:
        yield running


@pytest.fixture(params=["grpc", "json"])
def api(request: pytest.FixtureRequest, video_server: RunningServer) -> Api:
    return Api(official_stub(video_server, request.param), request.param, video_server)


@pytest.fixture(scope="module")
def served() -> Iterator[ImageServer]:
    with image_server() as server:
        server.add("/three.mp4", three_seconds(), "video/mp4")
        yield server


def video(*, data: bytes = b"", url: str = "", input_id: str = "") -> resources_pb2.Input:
    content = resources_pb2.Video(base64=data, url=url)
    return resources_pb2.Input(id=input_id, data=resources_pb2.Data(video=content))


def predict(
    api: Api,
    *inputs: resources_pb2.Input,
    config: resources_pb2.OutputConfig | None = None,
    model_id: str = GENERAL,
    app_id: str = "",
) -> Any:
    user_app = resources_pb2.UserAppIDSet(user_id="me", app_id=app_id) if app_id else None
    request = service_pb2.PostModelOutputsRequest(
        user_app_id=user_app or resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main"),
        model_id=model_id,
        inputs=list(inputs),
    )
    if config is not None:
        request.model.output_info.output_config.CopyFrom(config)
    return api.stub.PostModelOutputs(request, metadata=api.pat)


_PHOTO_CONCEPTS: dict[str, tuple[str, ...]] = {}


def photo_top_concepts(api: Api, name: str) -> tuple[str, ...]:
    """What the model says of the photo itself, at the video's frame size (asked once)."""
    if name not in _PHOTO_CONCEPTS:
        photo = resources_pb2.Input(
            data=resources_pb2.Data(image=resources_pb2.Image(base64=jpeg(picture(name))))
        )
        response = predict(api, photo)
        assert response.status.code == SUCCESS, response.status
        _PHOTO_CONCEPTS[name] = tuple(c.name for c in response.outputs[0].data.concepts[:5])
    return _PHOTO_CONCEPTS[name]


def frame_times(output: Any) -> list[int]:
    return [frame.frame_info.time for frame in output.data.frames]


def assert_frames_show_the_photos(api: Api, output: Any, per_photo: int = 1) -> None:
    """Each frame's concepts are those of the photo it was made from: its best concept is
    among the photo's top five, and its top five share more with that photo's than with any
    other photo's."""
    expected = [name for name in PHOTOS for _ in range(per_photo)]
    assert len(output.data.frames) == len(expected)
    for frame, name in zip(output.data.frames, expected, strict=True):
        assert frame.data.concepts, frame
        top = {c.name for c in frame.data.concepts[:5]}
        assert frame.data.concepts[0].name in photo_top_concepts(api, name), (name, frame)
        shared = {other: len(top & set(photo_top_concepts(api, other))) for other in PHOTOS}
        assert max(shared, key=lambda other: shared[other]) == name, (name, shared)
        assert sorted(shared.values())[-2] < shared[name], (name, shared)


# predictions


def test_video_bytes_predict_a_frame_every_second(api: Api) -> None:
    response = predict(api, video(data=three_seconds()))

    assert response.status.code == SUCCESS, response.status
    output = response.outputs[0]
    assert output.status.code == SUCCESS
    assert frame_times(output) == [0, 1000, 2000]
    assert [frame.frame_info.index for frame in output.data.frames] == [0, 1, 2]
    assert_frames_show_the_photos(api, output)
    assert not output.input.data.video.base64  # the echo leaves the bytes out
    assert not output.data.concepts  # the concepts are per frame


def test_sample_ms_500_and_max_concepts_3_apply_per_frame(api: Api) -> None:
    config = resources_pb2.OutputConfig(sample_ms=500, max_concepts=3)
    response = predict(api, video(data=three_seconds()), config=config)

    assert response.status.code == SUCCESS, response.status
    output = response.outputs[0]
    assert frame_times(output) == [0, 500, 1000, 1500, 2000, 2500]
    assert all(len(frame.data.concepts) == 3 for frame in output.data.frames)
    assert_frames_show_the_photos(api, output, per_photo=2)


def test_the_100_ms_minimum_step_gives_every_frame_in_order(api: Api) -> None:
    """30 frames: more than one batch of decoded frames (they are never all held at once)."""
    config = resources_pb2.OutputConfig(sample_ms=100, max_concepts=1)
    response = predict(api, video(data=three_seconds()), config=config)

    assert response.status.code == SUCCESS, response.status
    output = response.outputs[0]
    assert frame_times(output) == list(range(0, 3000, 100))
    assert [f.frame_info.index for f in output.data.frames] == list(range(30))
    assert_frames_show_the_photos(api, output, per_photo=10)


def test_min_value_and_select_concepts_apply_per_frame(api: Api) -> None:
    high = predict(
        api, video(data=three_seconds()), config=resources_pb2.OutputConfig(min_value=0.5)
    ).outputs[0]
    assert all(c.value >= 0.5 for f in high.data.frames for c in f.data.concepts)

    chosen = photo_top_concepts(api, "sea")[0]
    selected = predict(
        api,
        video(data=three_seconds()),
        config=resources_pb2.OutputConfig(select_concepts=[resources_pb2.Concept(name=chosen)]),
    ).outputs[0]
    assert [[c.name for c in f.data.concepts] for f in selected.data.frames] == [[chosen]] * 3


def test_video_by_url_on_loopback(api: Api, served: ImageServer) -> None:
    url = served.url("/three.mp4")
    response = predict(api, video(url=url))

    assert response.status.code == SUCCESS, response.status
    assert frame_times(response.outputs[0]) == [0, 1000, 2000]
    assert_frames_show_the_photos(api, response.outputs[0])
    assert response.outputs[0].input.data.video.url == url


def test_webm_predicts_too(api: Api) -> None:
    response = predict(api, video(data=three_seconds("webm", "libvpx-vp9")))

    assert response.status.code == SUCCESS, response.status
    assert frame_times(response.outputs[0]) == [0, 1000, 2000]
    assert_frames_show_the_photos(api, response.outputs[0])


def test_an_animated_gif_predicts_as_video(api: Api) -> None:
    gif = animated_gif([picture(name) for name in PHOTOS])

    response = predict(api, video(data=gif))

    assert response.status.code == SUCCESS, response.status
    assert frame_times(response.outputs[0]) == [0, 1000, 2000]


def test_embeddings_per_frame(api: Api) -> None:
    response = predict(api, video(data=three_seconds()), model_id="general-image-embedding")

    assert response.status.code == SUCCESS, response.status
    frames = response.outputs[0].data.frames
    assert [len(f.data.embeddings) for f in frames] == [1, 1, 1]
    assert frames[0].data.embeddings[0].num_dimensions > 0


@pytest.mark.parametrize(
    ("model_id", "answered"),
    [
        pytest.param("color-recognition", lambda data: len(data.colors) > 0, id="colors"),
        pytest.param("moderation-recognition", lambda data: len(data.concepts) > 0, id="mod"),
        pytest.param("nsfw-recognition", lambda data: len(data.concepts) > 0, id="nsfw"),
        pytest.param("face-detection", lambda data: True, id="faces"),
        pytest.param("ocr-scene-english", lambda data: True, id="ocr"),
    ],
)
def test_every_image_model_answers_frame_by_frame(api: Api, model_id: str, answered: Any) -> None:
    response = predict(api, video(data=three_seconds()), model_id=model_id)

    assert response.status.code == SUCCESS, response.status
    frames = response.outputs[0].data.frames
    assert frame_times(response.outputs[0]) == [0, 1000, 2000]
    assert all(answered(frame.data) for frame in frames)


def test_faces_are_found_in_the_frame_that_shows_one(api: Api) -> None:
    face = Image.open(io.BytesIO(astronaut())).convert("RGB").resize(SIZE)
    clip = video_bytes([picture("sea"), face], size=SIZE)

    response = predict(api, video(data=clip), model_id="face-detection")

    assert response.status.code == SUCCESS, response.status
    sea, astronaut_frame = response.outputs[0].data.frames
    assert len(sea.data.regions) == 0
    assert len(astronaut_frame.data.regions) >= 1


def test_a_workflow_answers_frames(api: Api) -> None:
    request = service_pb2.PostWorkflowResultsRequest(
        user_app_id=resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main"),
        workflow_id="General",
        inputs=[video(data=three_seconds())],
        output_config=resources_pb2.OutputConfig(sample_ms=1000, max_concepts=3),
    )
    response = api.stub.PostWorkflowResults(request, metadata=api.pat)

    assert response.status.code == SUCCESS, response.status
    outputs = response.results[0].outputs
    classifier = next(o for o in outputs if o.model.id == GENERAL)
    assert frame_times(classifier) == [0, 1000, 2000]
    assert all(len(frame.data.concepts) == 3 for frame in classifier.data.frames)
    assert_frames_show_the_photos(api, classifier)


def test_sample_ms_under_100_is_refused(api: Api) -> None:
    config = resources_pb2.OutputConfig(sample_ms=50)
    response = predict(api, video(data=three_seconds()), config=config)

    assert response.outputs[0].status.code == status_code_pb2.INPUT_VIDEO_INVALID_ARGUMENT
    assert "100" in response.outputs[0].status.description


def test_a_text_model_refuses_video(api: Api) -> None:
    response = predict(api, video(data=three_seconds()), model_id="text-embedding")

    assert response.outputs[0].status.code == status_code_pb2.INPUT_VIDEO_INVALID_ARGUMENT
    assert "not video" in response.outputs[0].status.description


# stored videos


def post(api: Api, app_id: str, *inputs: resources_pb2.Input) -> Any:
    return api.stub.PostInputs(
        service_pb2.PostInputsRequest(
            user_app_id=resources_pb2.UserAppIDSet(app_id=app_id), inputs=list(inputs)
        ),
        metadata=api.pat,
    )


def wait_processed(api: Api, app_id: str, count: int) -> None:
    deadline = time.monotonic() + 120
    while True:
        counts = api.stub.GetInputCount(
            service_pb2.GetInputCountRequest(user_app_id=resources_pb2.UserAppIDSet(app_id=app_id)),
            metadata=api.pat,
        ).counts
        if counts.processed == count:
            return
        assert time.monotonic() < deadline and counts.errors == 0, counts
        time.sleep(0.1)


def list_inputs(api: Api, app_id: str) -> Any:
    response = api.stub.ListInputs(
        service_pb2.ListInputsRequest(user_app_id=resources_pb2.UserAppIDSet(app_id=app_id)),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    return response.inputs


def image(input_id: str, name: str) -> resources_pb2.Input:
    data = resources_pb2.Data(image=resources_pb2.Image(base64=jpeg(picture(name))))
    return resources_pb2.Input(id=input_id, data=data)


def test_a_stored_video_is_listed_hosted_and_found_by_any_frame(api: Api) -> None:
    app = create_app(api)
    posted = post(
        api,
        app.id,
        video(data=three_seconds(), input_id="clip"),
        image("horses", "horses"),
        image("mountains", "mountains"),
    )
    assert posted.status.code == SUCCESS, posted.status
    assert not posted.inputs[0].data.video.base64
    wait_processed(api, app.id, 3)

    clip = next(i for i in list_inputs(api, app.id) if i.id == "clip")
    info = clip.data.video.video_info
    assert (info.width, info.height, info.video_format) == (*SIZE, "mp4")
    assert info.fps == pytest.approx(10)
    assert info.duration_seconds == pytest.approx(3, abs=0.2)
    assert info.frame_count == 3
    assert clip.data.video.url.endswith("/orig/" + clip.data.video.hosted.suffix)
    headers = {"authorization": f"Key {api.server.admin_pat}"}
    original = httpx.get(clip.data.video.url, headers=headers)
    assert (original.status_code, original.content) == (200, three_seconds())
    assert original.headers["content-type"] == "video/mp4"
    thumbnail = httpx.get(clip.data.video.thumbnail_url, headers=headers)
    assert thumbnail.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumbnail.content)).format == "JPEG"

    for name in PHOTOS:  # any frame finds it, ahead of the images
        found = search(api, app.id, image=resources_pb2.Image(base64=jpeg(picture(name))))
        hits = [hit.input.id for hit in found.hits]
        assert hits[0] == "clip", (name, hits)
        assert hits.count("clip") == 1  # one hit per input, however many frames match
        assert found.hits[0].score > 0.9
        # The hit says where the video matched: its best frame, in the hit's input.
        frame_time = PHOTOS.index(name) * 1000
        assert [f.frame_info.time for f in found.hits[0].input.data.frames] == [frame_time]

    by_concept = search_ids(api, app.id, concepts=[resources_pb2.Concept(name="coffee")])
    assert by_concept[0] == "clip"  # its last frame's concept finds it

    stored = predict(api, resources_pb2.Input(id="clip"), app_id=app.id)
    assert stored.status.code == SUCCESS, stored.status
    assert frame_times(stored.outputs[0]) == [0, 1000, 2000]

    deleted = api.stub.DeleteInput(
        service_pb2.DeleteInputRequest(
            user_app_id=resources_pb2.UserAppIDSet(app_id=app.id), input_id="clip"
        ),
        metadata=api.pat,
    )
    assert deleted.status.code == SUCCESS, deleted.status
    by_frame = search_ids(api, app.id, image=resources_pb2.Image(base64=jpeg(picture("sea"))))
    assert "clip" not in by_frame  # its frames went with it


def search(api: Api, app_id: str, **data: Any) -> Any:
    rank = resources_pb2.Rank(annotation=resources_pb2.Annotation(data=resources_pb2.Data(**data)))
    found = api.stub.PostInputsSearches(
        service_pb2.PostInputsSearchesRequest(
            user_app_id=resources_pb2.UserAppIDSet(app_id=app_id),
            searches=[resources_pb2.Search(query=resources_pb2.Query(ranks=[rank]))],
        ),
        metadata=api.pat,
    )
    assert found.status.code == SUCCESS, found.status
    return found


def search_ids(api: Api, app_id: str, **data: Any) -> list[str]:
    return [hit.input.id for hit in search(api, app_id, **data).hits]


def truncated() -> bytes:
    whole = three_seconds()
    return whole[: len(whole) // 2]


def too_long() -> bytes:
    return video_bytes([picture("dog")], seconds_each=MAX_SECONDS + 1, fps=2, size=(64, 48))


@pytest.mark.parametrize(
    ("make", "code", "says"),
    [
        pytest.param(truncated, status_code_pb2.INPUT_VIDEO_UNSUPPORTED_FORMAT, "", id="truncated"),
        pytest.param(too_long, status_code_pb2.INPUT_VIDEO_OVER_LIMIT, "limit", id="too-long"),
    ],
)
def test_a_bad_video_is_refused_and_nothing_stored(
    api: Api, make: Any, code: int, says: str
) -> None:
    app = create_app(api)

    posted = post(api, app.id, video(data=make(), input_id="bad"))

    assert posted.status.code == status_code_pb2.FAILURE
    assert posted.inputs[0].status.code == code, posted.inputs[0].status
    assert says in posted.inputs[0].status.description
    assert list_inputs(api, app.id) == []
    predicted = predict(api, video(data=make()))
    assert predicted.outputs[0].status.code == code


def test_a_custom_model_predicts_frame_by_frame(api: Api) -> None:
    """A classifier trained on the dog and the coffee tells the video's frames apart."""
    ua = new_app(api)
    examples = [image_input(jpeg(picture(name)), concept(name)) for name in ("dog", "coffee")] + [
        image_input(jpeg(picture(name).rotate(180)), concept(name)) for name in ("dog", "coffee")
    ]
    post_inputs(api, ua, examples)
    assert post_model(api, ua, "dog-or-coffee", ["dog", "coffee"]).status.code == SUCCESS
    version = train(api, ua, "dog-or-coffee")
    assert wait_trained(api, ua, "dog-or-coffee", version).status.code == 21100  # trained
    clip = video_bytes([picture("dog"), picture("coffee")], size=SIZE)

    response = api.stub.PostModelOutputs(
        service_pb2.PostModelOutputsRequest(
            user_app_id=ua, model_id="dog-or-coffee", inputs=[video(data=clip)]
        ),
        metadata=api.pat,
    )

    assert response.status.code == SUCCESS, response.status
    frames = response.outputs[0].data.frames
    assert [frame.data.concepts[0].id for frame in frames] == ["dog", "coffee"]
    assert all(c.app_id == ua.app_id for f in frames for c in f.data.concepts)


def test_a_new_base_workflow_reindexes_a_video_by_its_frames(api: Api) -> None:
    ua = new_app(api)
    clip = video_bytes([picture("dog"), picture("coffee")], size=SIZE)
    assert post(api, ua.app_id, video(data=clip, input_id="clip")).status.code == SUCCESS
    wait_processed(api, ua.app_id, 1)
    sfw = resources_pb2.Concept(id=SFW, value=1)
    assert search_ids(api, ua.app_id, concepts=[sfw]) == []  # General does not predict it

    workflow = moderation_workflow(api, ua)
    patch = service_pb2.PatchAppRequest(
        user_app_id=ua, app=resources_pb2.App(id=ua.app_id, default_workflow_id=workflow)
    )
    assert api.stub.PatchApp(patch, metadata=api.pat).status.code == SUCCESS

    until(lambda: search_ids(api, ua.app_id, concepts=[sfw]), lambda hits: hits == ["clip"])
    by_frame = search(api, ua.app_id, image=resources_pb2.Image(base64=jpeg(picture("coffee"))))
    assert [hit.input.id for hit in by_frame.hits] == ["clip"]  # its frames were kept
    assert by_frame.hits[0].score > 0.9


def test_a_video_by_url_is_ingested_and_a_broken_one_fails_with_its_reason(
    api: Api, served: ImageServer
) -> None:
    app = create_app(api)
    served.add("/broken.mp4", truncated(), "video/mp4")
    good, broken = served.url("/three.mp4"), served.url("/broken.mp4")
    posted = post(
        api,
        app.id,
        video(url=good, input_id="good"),
        video(url=broken, input_id="broken"),
    )
    assert posted.status.code == SUCCESS, posted.status

    inputs = until(
        lambda: list_inputs(api, app.id),
        lambda found: all(i.status.code in (30000, 30002) for i in found) and len(found) == 2,
    )
    by_id = {i.id: i for i in inputs}
    assert by_id["good"].status.code == 30000
    assert by_id["good"].data.video.url == good
    assert by_id["good"].data.video.video_info.frame_count == 3
    assert by_id["good"].data.video.thumbnail_url
    assert by_id["broken"].status.code == 30002
    assert "31101" in by_id["broken"].status.description
