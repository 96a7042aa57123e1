"""Body cleanup rules, each on lines written for the purpose (and the lines it must keep)."""

from __future__ import annotations

import pytest

from ingest.cleanup import clean_body

LEAD = "The council approved the new ferry timetable on Tuesday evening after a long debate."
TAIL = "Services under the new timetable start in March, the operator said in a statement."


def kept(*middle: str, authors: tuple[str, ...] = ()) -> list[str]:
    """The middle lines that survive between two ordinary paragraphs."""
    body = clean_body("\n".join([LEAD, LEAD + " Again.", *middle, TAIL + " Also.", TAIL]),
                      authors=authors)  # fmt: skip
    return body.split("\n")[2:-2]


@pytest.mark.parametrize(
    "line",
    [
        # promotions
        "READ MORE: Five things the ferry plan means for commuters",
        "Related: Harbour works delayed again",
        "Related Stories",
        "See also: the 2019 timetable row",
        "Read our full review of the new ferry",
        "Continue reading the main story",
        "Click here to get the timetable by email",
        "More from The Harbour Times",
        "Most popular",
        # placeholders and player text
        "Loading...",
        "Loading\u2026",
        "Please wait...",
        "Advertisement",
        "ADVERTISEMENT - SCROLL TO CONTINUE READING",
        "This is a modal window.",
        "Next video starts in : 7",
        "Now playing",
        "descriptions off, selected",
        "Unfortunately, this video is not available in your region.",
        "Listen to this article",
        # credits
        "Photo: Jane Doe/Harbour Times",
        "Credit: Tom Smith/PA Wire",
        "Image courtesy of the ferry operator",
        "Jane Doe/Getty Images",
        "AFP",
        "AA",
        "(AP Photo/John Roe)",
        # prompts
        "Share this article",
        "Share on Facebook",
        "Copy link",
        "Sign up for our daily newsletter",
        "Subscribe to our newsletter for the latest news",
        "Enter your email address",
        "Awesome, you're subscribed!",
        "No thanks",
        "Thanks!",
        "Join our commenting forum",
        "Follow us on Instagram",
        "Download the Harbour Times app",
        "Want to bookmark this story? Start your Premium subscription today",
        # navigation, separators, notices, tags
        "Previous",
        "- Next",
        "Next article",
        "Follow us",
        "___",
        "* * *",
        "Topics: ferries, harbour, transport",
        "Tags: council",
        "We use cookies to give you the best experience on our website.",
        "This work is licensed under a Creative Commons Attribution 4.0 License.",
        "\u00a9 2026 Harbour Times. All rights reserved.",
        # a teaser card: the same words twice; an all-capitals link to another story
        "Ferry fares rise again Ferry fares rise again",
        "HARBOUR BOARD APPROVES NEW TERMINAL AFTER TEN YEARS OF DELAYS AND PROTESTS",
        # newsletter promotions, account prompts, standards footers
        "Love ferries? Our Harbour Weekly newsletter has it all, delivered to your inbox.",
        "Sign up now for the Harbour Weekly newsletter.",
        "Email address",
        "Already have an account? Log in",
        "Our Standards: The Harbour Times Trust Principles.",
        # more promotion and gallery furniture
        "You might also like",
        "Featured slide shows",
        "- 1 of 5",
        "Fullscreen",
        "End of Article",
    ],
)
def test_boilerplate_lines_go(line):
    assert kept(line) == []


@pytest.mark.parametrize(
    "line",
    [
        "Readers can read more about the plan on the council website, she said.",
        "Related talks with the unions are due next week.",
        "Photos of the old terminal show how little has changed since 1970.",
        "The operator said it would share the cost with the harbour board.",
        "Subscribers to the season ticket will get a refund, the council confirmed.",
        "Loading the ferry takes twenty minutes longer under the new rules.",
        "Next year the council will review the timetable again.",
        "He was credited with saving the service in 2011.",
        "Thanks to the new berth, two ferries can load at once.",
        "Email campaigns drove ticket sales.",
        "Cookies and cakes were sold on board to raise money for the lifeboat.",
        "The bakery's cookies were the best experience of the crossing, passengers said.",
        "The AP reported the story first.",
        "The 6/10 rating came from a passenger survey of the new boats.",
        "WHAT WE KNOW SO FAR",
        "LES VALEURS A SUIVRE A WALL STREET",
        "(SOUNDBITE OF A FERRY HORN AND THE CROWD CHEERING ON THE QUAY)",
        "事实上 有证据表明 UFAA 开展了一项研究 THE STUDY WAS IN NINETEEN EIGHTY FIVE",
        "The newsletter the council sends residents explained the new timetable in detail.",
    ],
)
def test_sentences_that_merely_mention_the_words_stay(line):
    assert kept(line) == [line]


def test_a_long_caption_repeated_goes_but_short_list_items_repeat():
    caption = ("Passengers queue in the rain for the first sailing of the new ferry at the east "
               "quay terminal on Monday morning.")  # fmt: skip
    assert kept(caption, "Some paragraph in between.", caption) == [
        caption, "Some paragraph in between."
    ]  # fmt: skip
    nominees = ["Best album", "Raye", "Blur", "Best song", "Raye", "Dua Lipa"]
    assert kept(*nominees) == nominees


def test_gallery_captions_numbered_against_one_total_go():
    slides = [f"- {n}/12 Slide caption number {n} about the harbour" for n in range(1, 13)]
    assert kept(*slides) == []
    assert kept("- 1/2 One of two", "A normal paragraph.") == ["- 1/2 One of two",
                                                              "A normal paragraph."]  # fmt: skip


def test_bylines_and_datelines_go_only_at_the_edges():
    lines = [
            "By Jane Doe and Tom Smith",
            "Published 28 February 2024, 10:15 GMT",
            LEAD,
            "February 28, 2024",
            "The vote was 7 to 2. Jane Doe, the council's chair, cast the deciding vote.",
            TAIL,
            "Jane Doe",
    ]  # fmt: skip
    body = clean_body("\n".join(lines), authors=("Jane Doe",))
    assert body.split("\n") == [
        LEAD, "February 28, 2024",
        "The vote was 7 to 2. Jane Doe, the council's chair, cast the deciding vote.", TAIL,
    ]  # fmt: skip


def test_the_seed_article_kind_of_boilerplate_goes():
    lines = [
        "Russian paratroopers were deployed as part of a peacekeeping force that included troops from four other former republics.",
        "AA",
        "Russian paratroopers were deployed as part of a peacekeeping force that included troops from four other former republics.",
        "Over 2,000 troops have begun withdrawing after a week in the country.",
        "READ MORE: Five offshore deployments in the past decade",
        "Loading...",
        "Foreign meddling?",
        "The decision to send the force was a first for the bloc.",
    ]  # fmt: skip
    assert clean_body("\n".join(lines)).split("\n") == [
        "Russian paratroopers were deployed as part of a peacekeeping force that included troops from four other former republics.",
        "Over 2,000 troops have begun withdrawing after a week in the country.",
        "Foreign meddling?",
        "The decision to send the force was a first for the bloc.",
    ]


def test_an_authors_note_at_the_end_goes():
    bio = ("Jane Doe is a senior reporter for the Harbour Times covering transport. "
           "Follow her on social media.")  # fmt: skip
    credit = "This story about ferries was written by Jane Doe and produced by the Harbour Desk."
    assert clean_body(f"{LEAD}\n{TAIL}\n{bio}").split("\n") == [LEAD, TAIL]
    assert clean_body(f"{LEAD}\n{TAIL}\n{credit}").split("\n") == [LEAD, TAIL]
    # the same sentence in the middle of a long article is reporting, not a note
    middle = [LEAD, bio, *(f"{TAIL} ({n})" for n in range(4))]
    assert clean_body("\n".join(middle)).split("\n") == middle


def test_an_about_the_author_section_near_the_end_goes_with_what_follows():
    lines = [LEAD, TAIL, "About the Author", "Jane Doe", "Transport correspondent"]
    assert clean_body("\n".join(lines)).split("\n") == [LEAD, TAIL]


def test_a_dateline_with_dots_at_the_top_goes():
    assert clean_body(f"08.04.2015 12:46\n{LEAD}\n{TAIL}").split("\n") == [LEAD, TAIL]


def test_a_call_to_action_closing_the_article_goes():
    cta = "Have a story about the ferries? Send us your tips or sign up for the newsletter."
    assert clean_body(f"{LEAD}\n{TAIL}\n{cta}").split("\n") == [LEAD, TAIL]
    middle = "Passengers were told to sign up for text alerts about cancellations, she said."
    lines = [LEAD, middle, *(f"{TAIL} ({n})" for n in range(4))]
    assert clean_body("\n".join(lines)).split("\n") == lines
