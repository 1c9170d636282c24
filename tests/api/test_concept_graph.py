"""Concepts' languages, knowledge graphs and relations, and searching by a translated name,
through the official client on both channels."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from tests.api.conftest import Api
from tests.api.test_apps_keys import create_app
from tests.api.test_concepts_annotations_datasets import add_image, post_concepts, ua

SUCCESS = status_code_pb2.SUCCESS
Concept = resources_pb2.Concept
Language = resources_pb2.ConceptLanguage


def post_languages(api: Api, app: str, concept: str, *languages: Language) -> Any:
    return api.stub.PostConceptLanguages(
        service_pb2.PostConceptLanguagesRequest(
            user_app_id=ua(app), concept_id=concept, concept_languages=list(languages)
        ),
        metadata=api.pat,
    )


def list_languages(api: Api, app: str, concept: str, **paging: int) -> list[tuple[str, str]]:
    response = api.stub.ListConceptLanguages(
        service_pb2.ListConceptLanguagesRequest(user_app_id=ua(app), concept_id=concept, **paging),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    return [(one.id, one.name) for one in response.concept_languages]


def test_a_concept_has_names_in_other_languages(api: Api) -> None:
    app = create_app(api).id
    assert post_concepts(api, app, Concept(id="cat", name="Cat")).status.code == SUCCESS

    posted = post_languages(
        api, app, "cat", Language(id="fr", name="Chat"), Language(id="de", name="Katze")
    )
    assert posted.status.code == SUCCESS, posted.status
    assert [(one.id, one.name) for one in posted.concept_languages] == [
        ("fr", "Chat"),
        ("de", "Katze"),
    ]
    # The concept's own name is its entry in its own language.
    assert list_languages(api, app, "cat") == [("en", "Cat"), ("de", "Katze"), ("fr", "Chat")]
    assert list_languages(api, app, "cat", page=2, per_page=2) == [("fr", "Chat")]

    got = api.stub.GetConceptLanguage(
        service_pb2.GetConceptLanguageRequest(user_app_id=ua(app), concept_id="cat", language="fr"),
        metadata=api.pat,
    )
    assert (got.concept_language.id, got.concept_language.name) == ("fr", "Chat")

    patched = api.stub.PatchConceptLanguages(
        service_pb2.PatchConceptLanguagesRequest(
            user_app_id=ua(app),
            concept_id="cat",
            concept_languages=[Language(id="fr", definition="Un petit félin")],
            action="merge",
        ),
        metadata=api.pat,
    )
    assert patched.status.code == SUCCESS, patched.status
    got = api.stub.GetConceptLanguage(
        service_pb2.GetConceptLanguageRequest(user_app_id=ua(app), concept_id="cat", language="fr"),
        metadata=api.pat,
    )
    assert (got.concept_language.name, got.concept_language.definition) == (
        "Chat",
        "Un petit félin",
    )


def test_concept_languages_refuse_what_they_cannot_do(api: Api) -> None:
    app = create_app(api).id
    post_concepts(api, app, Concept(id="dog", name="Dog"))
    assert post_languages(api, app, "dog", Language(id="fr", name="Chien")).status.code == SUCCESS

    again = post_languages(api, app, "dog", Language(id="fr", name="Chienne"))
    assert again.status.code == status_code_pb2.CONN_INVALID_REQUEST, again.status
    assert "dog/fr" in again.status.description
    own = post_languages(api, app, "dog", Language(id="en", name="Doggo"))
    assert own.status.code == status_code_pb2.CONN_INVALID_REQUEST, own.status
    unnamed = post_languages(api, app, "dog", Language(id="es"))
    assert unnamed.status.code == status_code_pb2.CONN_INVALID_REQUEST, unnamed.status
    assert "name" in unnamed.status.description
    missing = post_languages(api, app, "wolf", Language(id="fr", name="Loup"))
    assert missing.status.code == status_code_pb2.CONN_DOES_NOT_EXIST, missing.status
    absent = api.stub.GetConceptLanguage(
        service_pb2.GetConceptLanguageRequest(user_app_id=ua(app), concept_id="dog", language="ja"),
        metadata=api.pat,
    )
    assert absent.status.code == status_code_pb2.CONN_DOES_NOT_EXIST, absent.status
    unpatched = api.stub.PatchConceptLanguages(
        service_pb2.PatchConceptLanguagesRequest(
            user_app_id=ua(app),
            concept_id="dog",
            concept_languages=[Language(id="ja", name="犬")],
        ),
        metadata=api.pat,
    )
    assert unpatched.status.code == status_code_pb2.CONN_DOES_NOT_EXIST, unpatched.status
    assert list_languages(api, app, "dog") == [("en", "Dog"), ("fr", "Chien")]


def search_by_name(api: Api, app: str, name: str, language: str = "") -> list[str]:
    query = resources_pb2.Query(
        language=language,
        filters=[
            resources_pb2.Filter(
                annotation=resources_pb2.Annotation(
                    data=resources_pb2.Data(concepts=[Concept(name=name, value=1)])
                )
            )
        ],
    )
    response = api.stub.PostInputsSearches(
        service_pb2.PostInputsSearchesRequest(
            user_app_id=ua(app), searches=[resources_pb2.Search(query=query)]
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    return sorted(hit.input.id for hit in response.hits)


def test_a_search_finds_a_concept_by_its_name_in_the_query_language(api: Api) -> None:
    app = create_app(api).id
    post_concepts(api, app, Concept(id="c-cat", name="cat"), Concept(id="c-dog", name="dog"))
    add_image(api, app, "a-cat", Concept(id="c-cat", value=1))
    add_image(api, app, "a-dog", Concept(id="c-dog", name="dog", value=1))
    post_languages(api, app, "c-cat", Language(id="fr", name="Chat"))
    post_languages(api, app, "c-dog", Language(id="fr", name="Chien"))

    assert search_by_name(api, app, "chat", "fr") == ["a-cat"]
    assert search_by_name(api, app, "Chien", "fr") == ["a-dog"]
    # Without the language, "chat" is no concept's name; in French "dog" is nobody's either,
    # so it is matched as given, against the names annotations carry.
    assert search_by_name(api, app, "chat") == []
    assert search_by_name(api, app, "dog", "fr") == ["a-dog"]
    assert search_by_name(api, app, "Katze", "de") == []


def post_relations(
    api: Api, app: str, subject: str, *relations: resources_pb2.ConceptRelation
) -> Any:
    return api.stub.PostConceptRelations(
        service_pb2.PostConceptRelationsRequest(
            user_app_id=ua(app), concept_id=subject, concept_relations=list(relations)
        ),
        metadata=api.pat,
    )


def relation(obj: str, predicate: str, graph: str = "") -> resources_pb2.ConceptRelation:
    return resources_pb2.ConceptRelation(
        object_concept=Concept(id=obj), predicate=predicate, knowledge_graph_id=graph
    )


def list_relations(api: Api, app: str, concept: str, **query: Any) -> list[tuple[str, str, str]]:
    response = api.stub.ListConceptRelations(
        service_pb2.ListConceptRelationsRequest(user_app_id=ua(app), concept_id=concept, **query),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    return [
        (r.subject_concept.id, r.predicate, r.object_concept.id) for r in response.concept_relations
    ]


def test_knowledge_graphs_and_concept_relations(api: Api) -> None:
    app = create_app(api).id
    post_concepts(
        api, app, Concept(id="animal"), Concept(id="dog", name="Dog"), Concept(id="hound")
    )
    graphs = api.stub.PostKnowledgeGraphs(
        service_pb2.PostKnowledgeGraphsRequest(
            user_app_id=ua(app),
            knowledge_graphs=[resources_pb2.KnowledgeGraph(id="pets", name="Pets")],
        ),
        metadata=api.pat,
    )
    assert graphs.status.code == SUCCESS, graphs.status
    listed = api.stub.ListKnowledgeGraphs(
        service_pb2.ListKnowledgeGraphsRequest(user_app_id=ua(app)), metadata=api.pat
    )
    assert [(g.id, g.name) for g in listed.knowledge_graphs] == [("pets", "Pets")]

    posted = post_relations(
        api, app, "dog", relation("animal", "hyponym", "pets"), relation("hound", "synonym")
    )
    assert posted.status.code == SUCCESS, posted.status
    assert posted.concept_relations[0].subject_concept.name == "Dog"
    assert list_relations(api, app, "dog") == [
        ("dog", "hyponym", "animal"),
        ("dog", "synonym", "hound"),
    ]
    # Seen from the object's side, the relation reads the other way round.
    assert list_relations(api, app, "animal") == [("animal", "hypernym", "dog")]
    assert list_relations(api, app, "dog", predicate="synonym") == [("dog", "synonym", "hound")]
    assert list_relations(api, app, "dog", knowledge_graph_id="pets") == [
        ("dog", "hyponym", "animal")
    ]
    assert list_relations(api, app, "dog", page=2, per_page=1) == [("dog", "synonym", "hound")]
    assert list_relations(api, app, "animal", predicate="hypernym") == [
        ("animal", "hypernym", "dog")
    ]
    assert list_relations(api, app, "animal", predicate="hyponym") == []
    # Without a concept: every relation of the app, as posted.
    assert list_relations(api, app, "") == [
        ("dog", "hyponym", "animal"),
        ("dog", "synonym", "hound"),
    ]
    assert list_relations(api, app, "", predicate="synonym", per_page=1) == [
        ("dog", "synonym", "hound")
    ]

    relation_id = posted.concept_relations[1].id
    deleted = api.stub.DeleteConceptRelations(
        service_pb2.DeleteConceptRelationsRequest(
            user_app_id=ua(app), concept_id="hound", ids=[relation_id]
        ),
        metadata=api.pat,
    )
    assert deleted.status.code == SUCCESS, deleted.status
    assert list_relations(api, app, "dog") == [("dog", "hyponym", "animal")]


def test_concept_relations_refuse_what_they_cannot_do(api: Api) -> None:
    app = create_app(api).id
    post_concepts(api, app, Concept(id="a"), Concept(id="b"))
    for bad, words in [
        (relation("b", "cousin"), "hypernym, hyponym, synonym"),
        (relation("a", "synonym"), "itself"),
        (relation("zzz", "synonym"), "zzz"),
        (relation("b", "synonym", "no-such-graph"), "no-such-graph"),
    ]:
        refused = post_relations(api, app, "a", bad)
        assert refused.status.code != SUCCESS, bad
        assert words in refused.status.description, refused.status
    gone = api.stub.DeleteConceptRelations(
        service_pb2.DeleteConceptRelationsRequest(user_app_id=ua(app), concept_id="a", ids=["x"]),
        metadata=api.pat,
    )
    assert gone.status.code == status_code_pb2.CONN_DOES_NOT_EXIST, gone.status
    taken = api.stub.PostKnowledgeGraphs(
        service_pb2.PostKnowledgeGraphsRequest(
            user_app_id=ua(app),
            knowledge_graphs=[
                resources_pb2.KnowledgeGraph(id="g"),
                resources_pb2.KnowledgeGraph(id="g"),
            ],
        ),
        metadata=api.pat,
    )
    assert taken.status.code == status_code_pb2.CONN_INVALID_REQUEST, taken.status


def concepts_search(api: Api, app: str, name: str, language: str, **query: Any) -> Any:
    return api.stub.PostConceptsSearches(
        service_pb2.PostConceptsSearchesRequest(
            user_app_id=ua(app),
            concept_query=resources_pb2.ConceptQuery(name=name, language=language, **query),
        ),
        metadata=api.pat,
    )


def test_concepts_searches_find_names_in_the_query_language(api: Api) -> None:
    app = create_app(api).id
    post_concepts(
        api,
        app,
        Concept(id="cat", name="cat"),
        Concept(id="dog", name="dog"),
        Concept(id="cheval", name="cheval", language="fr"),
    )
    post_languages(api, app, "cat", Language(id="fr", name="Chat"))
    post_languages(api, app, "dog", Language(id="fr", name="Chien"))

    found = concepts_search(api, app, "ch*", "fr")
    assert found.status.code == SUCCESS, found.status
    assert [(c.id, c.name, c.language) for c in found.concepts] == [
        ("cat", "Chat", "fr"),
        ("dog", "Chien", "fr"),
        ("cheval", "cheval", "fr"),
    ]
    assert [c.id for c in concepts_search(api, app, "chat", "fr").concepts] == ["cat"]
    assert [c.id for c in concepts_search(api, app, "ch", "de").concepts] == []
    refused = concepts_search(api, app, "ch", "fr", ignore_app_concepts=True)
    assert refused.status.code == status_code_pb2.CONN_INVALID_REQUEST, refused.status
    assert "English" in refused.status.description
