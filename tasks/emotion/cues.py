"""Hand-written emotion cues that the lexicons miss or blur, as data.

The NRC lexicon (tasks/emotion/lexicon.py) links ~6,500 words to emotions, but it links
many words to several at once ("hate" is anger, disgust, fear and sadness) and misses
common spoken cues: interjections ("ugh", "whoa"), idioms ("my blood is boiling") and
some everyday emotion words ("thrilled", "terrified"). The lists below are the
prototypical vocabulary of each emotion, following Parrott's (2001) emotion tree, plus
the interjections and idioms of spoken English. They outweigh the NRC lexicon.

Words are written in a base form; the tagger also tries inflections (-s, -ed, -ing, -ly,
-ness, ...). Phrases are matched on the lower-cased sentence with word boundaries.
"""

from __future__ import annotations

CUE_WORDS: dict[str, tuple[str, ...]] = {
    "joy": (
        "happy", "happiness", "glad", "joy", "joyful", "joyous", "delight", "delighted",
        "delightful", "cheerful", "cheer", "thrill", "thrilled", "excite", "excited",
        "exciting", "excitement", "ecstatic", "elated", "euphoric", "overjoyed", "jubilant",
        "glee", "gleeful", "bliss", "blissful", "proud", "pride", "grateful", "gratitude",
        "thankful", "thank", "thanks", "love", "lovely", "adore", "wonderful", "fantastic",
        "amazing", "awesome", "brilliant", "great", "terrific", "marvelous", "marvellous",
        "superb", "fabulous", "magnificent", "beautiful", "gorgeous", "celebrate",
        "celebration", "congratulations", "congrats", "hooray", "hurray", "yay", "woohoo",
        "yippee", "laugh", "smile", "grin", "fun", "enjoy", "enjoyable", "pleased", "pleasure",
        "relieved", "relief", "satisfied", "win", "won", "victory", "triumph", "success",
        "successful", "perfect", "best", "favorite", "favourite", "blessed", "lucky",
        "sunshine", "hug", "cherish", "treasure", "excellent", "stoked", "psyched", "giddy",
        "merry",
    ),
    "sadness": (
        "sad", "sadness", "unhappy", "sorrow", "sorrowful", "grief", "grieve", "mourn",
        "mourning", "cry", "cried", "crying", "tear", "tears", "weep", "wept", "sob", "lonely",
        "loneliness", "alone", "miss", "missed", "lost", "loss", "heartbroken", "heartbreak",
        "heartbreaking", "depressed", "depression", "despair", "hopeless", "gloomy", "gloom",
        "miserable", "misery", "melancholy", "regret", "sorry", "disappointed", "disappointing",
        "disappointment", "devastated", "funeral", "died", "death", "dead", "goodbye",
        "farewell", "empty", "emptiness", "gone", "never again", "defeat", "defeated",
        "rejected", "rejection", "abandoned", "ache", "aching", "painful", "suffer",
        "suffering", "tragic", "tragedy", "unfortunately", "sadly", "bittersweet",
        "downhearted", "numb", "hurt", "grieving", "widow", "orphan", "lose", "losing",
        "homesick", "nostalgic", "wistful", "somber", "sombre",
    ),
    "anger": (
        "angry", "anger", "mad", "furious", "fury", "rage", "enraged", "outrage", "outraged",
        "outrageous", "livid", "irate", "fuming", "seething", "infuriate", "infuriated",
        "infuriating", "annoy", "annoyed", "annoying", "irritate", "irritated", "irritating",
        "frustrate", "frustrated", "frustrating", "hate", "hatred", "resent", "resentment",
        "hostile", "unacceptable", "ridiculous", "rude", "insult", "insulting", "disrespect",
        "disrespectful", "demand", "liar", "lied", "lying", "cheat", "cheated", "betray",
        "betrayed", "stole", "steal", "stolen", "scam", "ripped", "stupid", "idiot", "idiotic",
        "incompetent", "pathetic", "damn", "dammit", "yell", "yelled", "shout", "scream at",
        "slam", "slammed", "wrath", "bitter", "spite", "grr", "argh", "fed up", "useless",
        "nonsense", "blame", "unfair", "injustice", "waste", "wasted",
    ),
    "fear": (
        "afraid", "fear", "fearful", "scared", "scare", "scary", "frighten", "frightened",
        "frightening", "terrified", "terrify", "terrifying", "terror", "horror", "horrified",
        "panic", "panicked", "panicking", "nervous", "anxious", "anxiety", "worry", "worried",
        "worrying", "dread", "dreading", "uneasy", "apprehensive", "alarm", "alarmed", "threat",
        "threaten", "threatening", "danger", "dangerous", "tremble", "trembling", "shiver",
        "shaking", "creepy", "eerie", "spooky", "haunted", "nightmare", "hide", "hid", "hiding",
        "flee", "escape", "scream", "screamed", "yikes", "petrified", "paranoid", "tense",
        "stalk", "stalker", "intruder", "whisper", "ominous", "menacing", "sinister", "unsafe",
        "emergency", "jumpy", "jittery", "shudder", "phobia", "freak", "freaking", "what if",
        "darkness", "lurk", "lurking", "suspicious",
    ),
    "surprise": (
        "surprise", "surprised", "surprising", "surprisingly", "astonish", "astonished",
        "astonishing", "amazed", "astound", "astounded", "stunned", "stunning", "shock",
        "shocked", "shocking", "speechless", "unexpected", "unexpectedly", "suddenly", "sudden",
        "unbelievable", "incredible", "wow", "whoa", "woah", "omg", "gosh", "goodness",
        "blimey", "jeez", "wait", "seriously", "no way", "never expected", "did not expect",
        "didn't expect", "didn't see that coming", "out of nowhere", "out of the blue",
        "cannot believe", "can't believe", "could not believe", "couldn't believe",
        "believe it", "jaw dropped", "jaw drop", "plot twist", "who knew", "turns out",
        "mind blown", "mind-blowing", "bewildered", "baffled", "startled", "flabbergasted",
        "dumbfounded", "gasp", "gasped", "twist",
    ),
    "disgust": (
        "disgust", "disgusted", "disgusting", "gross", "yuck", "eww", "ew", "ugh", "icky",
        "revolting", "revolted", "repulsive", "repulsed", "repugnant", "repel", "nauseous",
        "nausea", "nauseating", "sickening", "vomit", "puke", "gag", "gagged", "stink", "stank",
        "stinky", "stench", "reek", "reeked", "smelly", "rotten", "rot", "rotting", "moldy",
        "mouldy", "mold", "mould", "slimy", "slime", "filth", "filthy", "grime", "grimy",
        "greasy", "sticky", "crusty", "dirty", "nasty", "vile", "foul", "putrid", "rancid",
        "sour", "sewage", "sewer", "maggot", "maggots", "cockroach", "roach", "worm", "worms",
        "rat", "rats", "garbage", "trash", "sleazy", "creep", "despicable", "sickens",
        "makes me sick", "made me sick", "turns my stomach", "appalling", "loathe", "loathsome",
        "contempt", "abhorrent", "unsanitary", "spit", "snot", "pus", "fungus", "bugs", "lice",
    ),
}
"""Prototypical words and phrases of each emotion (weight :data:`CUE_WEIGHT` each)."""

CUE_WEIGHT = 2.0
"""Weight of one cue word, against 1.0 for a word the NRC lexicon ties to one emotion."""

WEAK_CUES: frozenset[str] = frozenset({
    # Situations and actions that often go with an emotion without naming it.
    "alone", "lost", "lose", "losing", "loss", "miss", "missed", "gone", "empty", "dead",
    "death", "died", "goodbye", "farewell", "hurt", "win", "won", "best", "perfect",
    "success", "successful", "party", "hug", "fun", "laugh", "smile", "grin", "thanks",
    "thank", "great", "love", "lovely", "hide", "hid", "hiding", "flee", "escape", "scream",
    "screamed", "whisper", "darkness", "emergency", "wait", "seriously", "sudden",
    "suddenly", "twist", "demand", "blame", "waste", "wasted", "stole", "steal", "stolen",
    "yell", "yelled", "shout", "slam", "slammed", "cheat", "cheated", "worm", "worms",
    "rat", "rats", "garbage", "trash", "bugs", "sour", "sticky", "dirty", "spit", "creep",
    "smelly", "stink", "sorry", "unfortunately", "tear", "tears",
})
"""Cue words that weigh :data:`WEAK_CUE_WEIGHT` only: they suggest an emotion without
naming it ("alone" goes with sadness, but "scared to walk home alone" is fear)."""

WEAK_CUE_WEIGHT = 1.2

IDIOMS: dict[str, tuple[str, ...]] = {
    "joy": (
        r"over the moon", r"on cloud nine", r"on top of the world", r"walking on air",
        r"made my (?:day|week|year|night)", r"(?:could ?n[o']t|could not) be happier",
        r"best (?:day|news|thing)", r"dream come true", r"(?:we|i) did it",
        r"can(?:'t|not) wait", r"so much fun", r"feels? (?:good|great|amazing)",
        r"(?:good|great) news", r"high fives?", r"nailed it", r"in love with",
        r"jump(?:ed|ing)? for joy", r"grinning from ear to ear", r"tickled pink", r"on a high",
        r"heart (?:is |was )?(?:full|soaring)", r"like a kid in a candy store", r"happy tears",
        r"beside myself with joy", r"in seventh heaven", r"pure (?:joy|bliss|heaven)",
    ),
    "sadness": (
        r"pass(?:ed|es)? away", r"break(?:s|ing)? my heart", r"broke my heart", r"broken heart",
        r"heart sank", r"miss(?:ed|ing)? (?:you|him|her|them|us)", r"not the same",
        r"fighting back tears", r"lump in my throat", r"no point", r"all alone",
        r"say(?:ing)? goodbye", r"heavy heart", r"let (?:me )?down", r"gave up",
        r"hard to let go", r"rest in peace", r"falling apart", r"feel(?:ing)? down",
        r"down in the dumps", r"hole in my (?:heart|life)",
        r"(?:no one|nobody) (?:came|showed up)", r"never (?:came|called|rang|wrote|came back)",
        r"used to be", r"one last time", r"for good", r"alone again",
        r"(?:grey|gray|dark) cloud", r"tears? (?:in|welled)", r"what's the point", r"if only",
    ),
    "anger": (
        r"how dare", r"(?:do|did)n'?t you dare", r"sick (?:and tired )?of", r"fed up",
        r"had (?:enough|it with)", r"enough is enough", r"get out", r"shut up",
        r"blood (?:is )?boil(?:ing|s)?", r"lost (?:my|his|her|their) temper", r"last straw",
        r"drives? me (?:crazy|nuts|mad|up the wall)", r"up the wall", r"(?:pissed|ticked) off",
        r"so done with", r"what the hell", r"are you kidding me", r"for the last time",
        r"out of line", r"i demand", r"seeing red", r"see red", r"hands off", r"rip-?off",
        r"had the nerve", r"how could you", r"who do you think you are",
        r"i want my money back", r"not going to (?:put up with|tolerate)", r"put up with",
        r"snapped at", r"right now!", r"flat-?out lie", r"lied to (?:me|us)",
        r"at the end of my rope", r"makes? my blood", r"through gritted teeth",
        r"slammed the door",
    ),
    "fear": (
        r"what if", r"oh no", r"scared (?:to death|stiff)", r"out of my skin",
        r"heart (?:was |is )?(?:pounding|racing|in my throat)", r"cold sweat",
        r"chills? (?:down|ran)", r"hairs? (?:on|stand)", r"can(?:'t|not) breathe",
        r"couldn't breathe", r"(?:keeps?|kept) me up at night", r"do(?:n't| not) leave me",
        r"following me", r"not safe", r"lock(?:ed)? the doors?", r"butterflies in my stomach",
        r"on edge", r"knots? in my stomach", r"stomach (?:is |was )?in knots", r"worst case",
        r"held? my breath", r"holding my breath",
        r"(?:palms|hands) (?:were |are )?(?:sweating|sweaty|shaking)",
        r"(?:someone|something|somebody) (?:is |was )?(?:moving|standing|outside|in the house)",
        r"did you hear that", r"what was that", r"frozen in place", r"froze", r"spine",
    ),
    "surprise": (
        r"oh my (?:god|gosh|goodness)", r"oh wow", r"no way", r"you(?:'re| are) kidding",
        r"are you serious", r"is that really", r"wait,? what",
        r"who would have (?:thought|guessed)", r"would have guessed",
        r"never (?:thought|imagined|dreamed) (?:i'd|i would|that)", r"all of a sudden",
        r"out of (?:the blue|nowhere|left field)", r"caught off guard", r"took me by surprise",
        r"to (?:my|our|everyone's|everybody's) (?:surprise|shock|astonishment|amazement)",
        r"eyes (?:widened|popped|nearly popped)", r"double take",
        r"did(?:n't| not) see (?:that|it) coming", r"saw (?:that|it) coming", r"blew my mind",
        r"plot twist", r"(?:was|wasn't|was not|were not) expecting",
        r"jaw (?:dropped|hit the floor)", r"what on earth", r"since when", r"for real\?",
        r"really just happen", r"knock(?:ed)? me over", r"in a million years",
        r"believe (?:my|our) eyes", r"of all (?:people|places|things)", r"turns? out",
        r"lo and behold",
    ),
    "disgust": (
        r"makes? me sick", r"made me sick", r"turn(?:ed|s)? my stomach", r"stomach turn",
        r"makes? me (?:gag|want to vomit|want to throw up)", r"made me gag",
        r"wan(?:t|ted) to throw up", r"threw up", r"can(?:'t|not) stand",
        r"can(?:'t|not) stomach", r"so gross", r"how gross", r"smell(?:s|ed) like",
        r"covered in", r"sick to my stomach", r"skin crawl", r"never been (?:cleaned|washed)",
        r"spat out", r"left a bad taste", r"low(?:-| )life", r"bottom of the barrel",
        r"how low", r"sleazy", r"(?:green|sick) with (?:nausea|disgust)",
    ),
}
"""Idioms and set phrases as regular expressions on the lower-cased sentence (weight
:data:`CUE_WEIGHT` each); word boundaries are added around each."""

INTENSIFIERS: dict[str, float] = {
    "so": 1.4, "very": 1.4, "really": 1.3, "extremely": 1.7, "incredibly": 1.6,
    "absolutely": 1.6, "totally": 1.4, "utterly": 1.7, "completely": 1.5, "truly": 1.4,
    "deeply": 1.5, "terribly": 1.5, "awfully": 1.4, "super": 1.4, "insanely": 1.6,
    "too": 1.2, "such": 1.3, "most": 1.2, "more": 1.1, "ever": 1.2, "whole": 1.2,
    "slightly": 0.6, "somewhat": 0.7, "bit": 0.7, "little": 0.8, "kinda": 0.7,
    "fairly": 0.8, "mildly": 0.6, "barely": 0.5, "almost": 0.8,
}
"""Word before an emotion word -> factor on its weight (below 1 softens)."""

NEGATIONS: frozenset[str] = frozenset({
    "not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "without",
    "hardly", "cannot", "cant", "dont", "didnt", "doesnt", "isnt", "wasnt", "arent",
    "werent", "wont", "wouldnt", "couldnt", "shouldnt", "aint", "n't",
})
"""Words that negate the emotion words after them (up to :data:`NEGATION_SCOPE`)."""

NEGATION_SCOPE = 3
"""How many words after a negation it reaches (punctuation ends it earlier)."""
