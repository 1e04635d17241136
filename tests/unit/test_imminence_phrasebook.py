"""The imminence phrasebook, sentence by sentence: what a field reporter writes when harm is now or within hours
(tonight, in the next hours, they are coming now), in en, es, fr, pt and ar, with and without accents and in SMS
spelling, and what must not page the on-call (the past, negations, the far future, words that only look alike).

Every positive sentence exercises its own phrase of agents/data/imminence.yaml; accent and spelling variants of
a phrase come on top of that. Add a sentence here with every phrase or exception added there.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agents.imminence import DEFAULT_PATH, find_imminence, fold_text, load_phrasebook, says_imminent

LANGUAGES = ("en", "es", "fr", "pt", "ar")
MINIMUM = 30

# (sentence, the words found as written in it)
POSITIVE: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("Police are surrounding the union office right now, please call.", "right now"),
        ("Soldiers are searching her house as we speak.", "as we speak"),
        ("As I write, they are loading people into trucks.", "As I write"),
        ("As I type this the militia is at the gate.", "As I type"),
        ("At this very moment the guards are beating the prisoners.", "At this very moment"),
        ("At the moment there are armed men outside the clinic.", "At the moment"),
        ("The demolition is happening now, bulldozers on site.", "happening now"),
        ("The shelling of the camp is still happening.", "still happening"),
        ("The raid on the cooperative is still going on.", "still going on"),
        ("The eviction is underway and families are on the street.", "underway"),
        ("A raid on the radio station is in progress.", "in progress"),
        ("He is being interrogated without a lawyer.", "being interrogated"),
        ("armed men outside rn pls help", "outside rn"),
        ("they r coming rn to the village", "coming rn"),
        ("The police are coming now, we can hear the sirens.", "coming now"),
        ("Two trucks of soldiers are on their way to the village.", "are on their way"),
        ("they're on their way, maybe 20 min", "they're on their way"),
        ("Soldiers are at the door now, they have no warrant.", "at the door now"),
        ("The army will clear the camp tonight, they said.", "tonight"),
        ("they said they will burn the house tonite", "tonite"),
        ("company guards coming back 2nite for the rest of us", "2nite"),
        ("He will be flown to the military base this evening.", "this evening"),
        ("The court that decides his deportation sits later today.", "later today"),
        ("Bulldozers are expected tomorrow morning at six.", "tomorrow morning"),
        ("Police plan to raid the office at dawn tomorrow.", "at dawn tomorrow"),
        ("They will evict everyone first thing tomorrow.", "first thing tomorrow"),
        ("She will be handed to the border guards within hours.", "within hours"),
        ("She could be moved within the hour.", "within the hour"),
        ("The deportation flight leaves in the next hour.", "in the next hour"),
        ("He is likely to be deported in the next 24 hours.", "in the next 24 hours"),
        ("Two hours from now they will demolish the school.", "hours from now"),
        ("They said they would return in a couple of hours.", "in a couple of hours"),
        ("Police may storm the building over the coming hours.", "the coming hours"),
        ("next few hrs are critical, they took his phone", "next few hrs"),
        ("The attack could start any minute.", "any minute"),
        ("They could break in any second.", "any second"),
        ("His arrest is expected any time now.", "any time now"),
        ("An attack on the camp is imminent.", "imminent"),
        ("The defender is in immediate danger.", "immediate danger"),
        ("The guards are about to move him to an unknown place.", "about to"),
        ("The community is on the verge of being expelled by force.", "on the verge of"),
        ("Gunmen are shooting at the houses.", "are shooting at"),
        ("they're shooting at us, we are hiding in the church", "they're shooting at"),
        ("Soldiers are firing at the crowd near the mine.", "are firing at"),
        ("Men in uniform are breaking in through the back door.", "are breaking in"),
        ("The elders are being beaten in the square.", "being beaten"),
        ("Protesters are being arrested one by one.", "being arrested"),
        ("Villagers are being surrounded by armed guards.", "being surrounded"),
        # spelling and case variants of phrases above
        ("THEY ARE COMING TONIGHT", "TONIGHT"),
        ("The demolition is under-way.", "under-way"),
    ],
    "es": [
        ("Los militares entraron y ahora mismo golpean a los líderes.", "ahora mismo"),
        ("Ahorita sacan a la gente de sus casas.", "Ahorita"),
        ("orita vienen x nosotros, ayuda", "orita"),
        ("Ya vienen los paramilitares hacia la vereda.", "Ya vienen"),
        ("ya bienen para aca los de la empresa", "ya bienen"),
        ("Los policías vienen en camino con una orden de desalojo.", "vienen en camino"),
        ("Hay dos camionetas de sicarios que están en camino.", "están en camino"),
        ("Los militares se están acercando a la casa.", "se están acercando"),
        ("Ya están aquí, rodearon la escuela.", "Ya están aquí"),
        ("Ya están llegando los camiones del ejército.", "están llegando"),
        ("En este momento hay hombres armados frente a la radio.", "En este momento"),
        ("En estos momentos queman las casas de la comunidad.", "En estos momentos"),
        ("En este preciso momento se llevan a los detenidos.", "En este preciso momento"),
        ("En este instante rodean la finca.", "En este instante"),
        ("Mientras escribo esto, disparan contra la casa comunal.", "Mientras escribo"),
        ("Dijeron que vuelven esta noche a quemar el resto.", "esta noche"),
        ("Esta misma noche lo quieren sacar del país.", "Esta misma noche"),
        ("Hoy por la noche llegará el operativo.", "Hoy por la noche"),
        ("hoy x la noche nos sacan de la tierra", "hoy x la noche"),
        ("Hoy a la noche entran con las máquinas.", "Hoy a la noche"),
        ("Esta tarde lo trasladan a otra cárcel.", "Esta tarde"),
        ("Hoy mismo ejecutan el desalojo.", "Hoy mismo"),
        ("El desalojo será mañana temprano, a las cinco.", "mañana temprano"),
        ("Mañana por la mañana demuelen la escuela.", "Mañana por la mañana"),
        ("Lo van a deportar mañana a primera hora.", "mañana a primera hora"),
        ("Temen que lo desaparezcan en las próximas 24 horas.", "en las próximas 24 horas"),
        ("Lo van a detener dentro de unas horas.", "dentro de unas horas"),
        ("Dentro de una hora llega la orden de captura.", "Dentro de una hora"),
        ("Regresan en un rato con más gente.", "en un rato"),
        ("En cualquier momento entran a la casa.", "En cualquier momento"),
        ("De un momento a otro llegan los antimotines.", "De un momento a otro"),
        ("Existe peligro inminente para la lideresa.", "inminente"),
        ("Está en peligro inmediato, tiene a la policía en la puerta.", "peligro inmediato"),
        ("Corre riesgo inmediato de ser detenido.", "riesgo inmediato"),
        ("Están a punto de derribar la puerta.", "a punto de"),
        ("Lo que está pasando es un desalojo violento.", "está pasando"),
        ("Está ocurriendo un ataque al campamento.", "Está ocurriendo"),
        ("Estan disparando contra la gente", "Estan disparando"),
        ("Los defensores están siendo golpeados por la policía.", "siendo golpeados"),
        ("Se lo están llevando a la fuerza en una patrulla.", "Se lo están llevando"),
        ("Los soldados están entrando a las casas.", "están entrando"),
        # without accents, in capitals
        ("Lo van a detener en las proximas horas", "en las proximas horas"),
        ("LO SACAN MANANA TEMPRANO", "MANANA TEMPRANO"),
        ("ya estan aqui los de la minera", "ya estan aqui"),
    ],
    "fr": [
        ("Ils sont devant la maison maintenant, aidez-nous.", "maintenant"),
        ("mnt ils frappent les jeunes devant l'école", "mnt"),
        ("En ce moment, des hommes armés fouillent le local.", "En ce moment"),
        ("Il vient d'être arrêté à l'instant devant chez lui.", "à l'instant"),
        ("À cet instant, ils frappent les détenus.", "À cet instant"),
        ("À l'heure où nous parlons, les bulldozers détruisent les maisons.", "À l'heure où nous parlons"),
        ("Au moment où j'écris, ils cognent à la porte.", "Au moment où j'écris"),
        ("Ils arrivent, on entend les moteurs.", "Ils arrivent"),
        ("Ils débarquent au village avec des machettes.", "Ils débarquent"),
        ("Les militaires sont en route vers le village.", "sont en route"),
        ("Ils approchent du village avec des fusils.", "Ils approchent"),
        ("Ils ont promis de revenir ce soir pour brûler le reste.", "ce soir"),
        ("c soir ils viennent le chercher", "c soir"),
        ("Ils reviennent cette nuit avec des renforts.", "cette nuit"),
        ("Le transfert est prévu cet après-midi.", "cet après-midi"),
        ("Aujourd'hui même ils ferment l'association.", "Aujourd'hui même"),
        ("L'expulsion aura lieu demain matin.", "demain matin"),
        ("2m1 matin ils rasent tout", "2m1 matin"),
        ("Il sera expulsé demain à l'aube.", "demain à l'aube"),
        ("Il sera transféré dans les heures qui viennent.", "dans les heures qui viennent"),
        ("Il risque d'être exécuté dans les prochaines heures.", "dans les prochaines heures"),
        ("Il sera déporté dans les prochaines 24 heures.", "dans les prochaines 24 heures"),
        ("Ils vont l'embarquer dans quelques heures.", "dans quelques heures"),
        ("Ils vont démolir d'ici quelques heures.", "d'ici quelques heures"),
        ("ds qq heures ils rasent le quartier", "ds qq heures"),
        ("dici quelques heures ils vont tout casser", "dici quelques heures"),
        ("dans une heure ils seront là", "dans une heure"),
        ("dans l'heure ils l'emmènent au camp", "dans l'heure"),
        ("Ils peuvent arriver d'un moment à l'autre.", "d'un moment à l'autre"),
        ("Ils peuvent l'arrêter à tout moment.", "à tout moment"),
        ("Une descente de police est imminente au siège.", "imminente"),
        ("Il est en danger immédiat, ils ont son adresse.", "danger immédiat"),
        ("Les gendarmes sont sur le point de défoncer la porte.", "sur le point de"),
        ("Les bulldozers sont en train de raser le marché.", "sont en train de"),
        ("La police est en train d'expulser les familles.", "est en train d'expulser"),
        ("La famille est en cours d'expulsion par la police.", "en cours d'expulsion"),
        ("Perquisition en cours chez lui, venez vite.", "Perquisition en cours"),
        ("Nous sommes encerclés par des hommes en armes.", "sommes encerclés"),
        ("Les militaires tirent sur les manifestants devant la mairie.", "tirent sur"),
        # without accents, SMS apostrophes and capitals
        ("il sera transfere dans les prochaines heures", "dans les prochaines heures"),
        ("Ils vont démolir d’ici quelques heures.", "d’ici quelques heures"),
        ("ILS ARRIVENT CE SOIR", "ILS ARRIVENT"),
        ("sommes encerclees, appelez", "sommes encerclees"),
    ],
    "pt": [
        ("Eles estão lá fora agora, socorro.", "agora"),
        ("Agora mesmo eles quebraram o portão.", "Agora mesmo"),
        ("agr msm eles tão batendo nele", "agr msm"),
        ("os jagunços chegaram agr, tão armados", "agr"),
        ("Neste momento os tratores derrubam as casas.", "Neste momento"),
        ("Neste exato momento ele está sendo levado.", "Neste exato momento"),
        ("Neste instante cercam a casa.", "Neste instante"),
        ("No momento, a PM cerca a escola.", "No momento"),
        ("Enquanto falamos, a PM espanca os moradores.", "Enquanto falamos"),
        ("Os pistoleiros estão chegando na comunidade.", "estão chegando"),
        ("tão chegando os caras armados", "tão chegando"),
        ("Os policiais estão a caminho da ocupação.", "estão a caminho"),
        ("Eles estão vindo pra cá com facões.", "estão vindo"),
        ("Os capangas estão se aproximando do acampamento.", "estão se aproximando"),
        ("Eles chegam já já com as máquinas.", "já já"),
        ("hj a noite eles voltam pra queimar tudo", "hj a noite"),
        ("Hoje de noite vão prender os líderes.", "Hoje de noite"),
        ("hj de noite vao invadir", "hj de noite"),
        ("Essa noite eles voltam com mais gente.", "Essa noite"),
        ("Nesta noite a milícia vai atacar.", "Nesta noite"),
        ("Hoje à tarde ele será transferido.", "Hoje à tarde"),
        ("Hoje mesmo vão fechar a rádio.", "Hoje mesmo"),
        ("Amanhã cedo começa a reintegração de posse.", "Amanhã cedo"),
        ("Amanhã de manhã as máquinas entram.", "Amanhã de manhã"),
        ("amanha bem cedo eles derrubam a escola", "amanha bem cedo"),
        ("nas proximas hrs ele vai ser levado", "nas proximas hrs"),
        ("Ele pode ser executado nas próximas 24 horas.", "nas próximas 24 horas"),
        ("Em poucas horas o despejo começa.", "Em poucas horas"),
        ("Dentro de algumas horas vão demolir.", "Dentro de algumas horas"),
        ("Em questão de horas a aldeia vai ser atacada.", "Em questão de horas"),
        ("Daqui a pouco eles chegam com a polícia.", "Daqui a pouco"),
        ("daki a pouco tão aqui", "daki a pouco"),
        ("Daqui a algumas horas ele será deportado.", "Daqui a algumas horas"),
        ("A qualquer momento eles entram.", "A qualquer momento"),
        ("Há um ataque iminente contra a aldeia.", "iminente"),
        ("Ela corre perigo imediato.", "perigo imediato"),
        ("Estão prestes a derrubar a porta.", "prestes a"),
        ("Os indígenas estão sendo atacados pela milícia.", "sendo atacados"),
        ("Estão atirando contra os moradores.", "Estão atirando"),
        ("Estão espancando os moradores na praça.", "Estão espancando"),
        ("estao queimando os barracos", "estao queimando"),
        # without accents, in capitals
        ("Vao invadir hoje a noite", "hoje a noite"),
        ("Ele sera transferido nas proximas horas", "nas proximas horas"),
        ("HJ À NOITE VÃO DESPEJAR", "HJ À NOITE"),
    ],
    "ar": [
        ("قوات الأمن داخل البيت الان", "الان"),
        ("حالاً يقتحمون مقر الجمعية", "حالاً"),
        ("المدافعة محتجزة حالياً في مركز الشرطة", "حالياً"),
        ("البوليس على الباب دلوقتي", "دلوقتي"),
        ("الحين يطوقون البيت", "الحين"),
        ("البوليس دابا كيضربو الناس", "دابا"),
        ("هسه القوات داخل الحي", "هسه"),
        ("في هذه اللحظة يتعرض المعتقلون للضرب", "في هذه اللحظة"),
        ("في هذه اللحظات تطلق القوات الغاز على المعتصمين", "في هذه اللحظات"),
        ("يجري الآن هدم المنازل", "يجري الآن"),
        ("رجال الأمن قادمون لاعتقاله", "قادمون"),
        ("العسكر جايين على القرية", "جايين"),
        ("الشرطة في طريقهم إلينا", "في طريقهم إلينا"),
        ("المسلحون يقتربون من المخيم", "يقتربون"),
        ("سيهاجمون القرية الليلة", "الليلة"),
        ("سيتم ترحيلهم هذا المساء", "هذا المساء"),
        ("ستبدأ الجرافات الهدم مساء اليوم", "مساء اليوم"),
        ("سيتم الإخلاء صباح الغد", "صباح الغد"),
        ("سيأتون غداً صباحاً لهدم البيوت", "غداً صباحاً"),
        ("الهجوم متوقع فجر الغد", "فجر الغد"),
        ("سيتم ترحيله خلال ساعات", "خلال ساعات"),
        ("خلال ساعات قليلة سيتم ترحيلها", "خلال ساعات قليلة"),
        ("قد يختفي خلال الساعات القادمة", "خلال الساعات القادمة"),
        ("سيتم نقله في الساعات المقبلة", "في الساعات المقبلة"),
        ("قد تتم مداهمة المنزل في الساعات القليلة القادمة", "الساعات القليلة القادمة"),
        ("سيتم اعتقالهم في الساعات القليلة المقبلة", "الساعات القليلة المقبلة"),
        ("سيتم الهدم خلال الساعة القادمة", "الساعة القادمة"),
        ("في غضون ساعات سيتم هدم الحي", "في غضون ساعات"),
        ("في غضون ساعة سيصلون", "في غضون ساعة"),
        ("سيعودون بعد ساعة مع تعزيزات", "بعد ساعة"),
        ("سيقتحمون المخيم بعد ساعتين", "بعد ساعتين"),
        ("قد يقتحمون المنزل في أي لحظة", "في أي لحظة"),
        ("سيداهمون البيت في أية لحظة", "في أية لحظة"),
        ("مداهمة وشيكة لمقر النقابة", "وشيكة"),
        ("الجيش على وشك اقتحام الحي", "على وشك"),
        ("المدافع في خطر داهم", "خطر داهم"),
        ("الصحفية في خطر فوري", "خطر فوري"),
        ("المسلحون يطلقون النار على المتظاهرين", "يطلقون النار"),
        # without hamza or madda, with diacritics, ta marbuta as ha, with a proclitic
        ("سيهاجمون القرية اللَّيْلَة", "اللَّيْلَة"),
        ("سيتم ترحيله الليله", "الليله"),
        ("قد يقتحمون المنزل في اي لحظه", "في اي لحظه"),
        ("والآن يطلقون الغاز", "الآن"),
        ("يبدو الهجوم وشيكاً", "وشيكاً"),
    ],
}

# Sentences that must not say the harm is now or within hours.
NEGATIVE: dict[str, list[str]] = {
    "en": [
        "He was beaten by two policemen last night.",
        "The trial will resume next month.",
        "Her house was raided two years ago.",
        "The eviction took place last week and the families now live in a school.",
        "The hearing is scheduled for next year.",
        "The demolition order will be enforced in the coming months.",
        "He might be transferred in the next few weeks.",
        "The company announced the eviction for next spring.",
        "There is no immediate danger to the defender.",
        "The lawyer says she is not in immediate danger at present.",
        "Police said there was no immediate threat to the village.",
        "He is out of immediate danger since his release.",
        "An attack is not imminent, according to local sources.",
        "There is no imminent risk, but we ask you to monitor the case.",
        "The threat is no longer imminent since the company withdrew.",
        "He fled the country after being beaten in 2019.",
        "She lives in fear of being evicted again one day.",
        "He risks being arrested again before the elections next year.",
        "He was being tortured when the Red Cross visited in 2021.",
        "They were being surrounded every night during the 2020 campaign.",
        "He was about to publish the report when he was detained in March.",
        "The protesters were about to leave when police charged, last Sunday.",
        "He was on the verge of being expelled from university in 2017.",
        "He was released within hours of his arrest last year.",
        "A criminal investigation is under way against her since January.",
        "An investigation is in progress at the prosecutor's office.",
        "They were attacked on their way to the court in March.",
        "At the moment when they took him, nobody was filming.",
        "The RN at the clinic treated his wounds last Tuesday.",
        "The community has been threatened since 2018.",
        "She was detained for three days in 2022 and then released.",
        "His house was burnt down in 2016.",
        "They said they might come back next week.",
        "New charges are on the way, the prosecutor said last month.",
        "The journalists are shooting a documentary about the mine.",
    ],
    "es": [
        "Lo golpearon anoche frente a su casa.",
        "La semana pasada allanaron la oficina.",
        "La audiencia es el mes que viene.",
        "El próximo mes vence el plazo del desalojo.",
        "Fue detenido hace dos años en Tegucigalpa.",
        "El año pasado recibió amenazas por teléfono.",
        "Ayer por la noche quemaron el cultivo.",
        "La noche del sábado pasado hubo disparos.",
        "Esa noche los militares rodearon la casa.",
        "Lo detuvieron en la madrugada del 3 de mayo.",
        "El desalojo ocurrió hace tres semanas.",
        "Lo van a juzgar en los próximos meses.",
        "En los próximos días presentaremos una denuncia.",
        "El juicio será el año que viene.",
        "No hay peligro inmediato para la familia.",
        "Por ahora no corre peligro inmediato.",
        "Según el abogado, no hay peligro inminente.",
        "La amenaza no es inminente, pero pedimos seguimiento.",
        "Sin riesgo inmediato, según la misión de observación.",
        "Ningún peligro inminente fue reportado por la misión.",
        "No está en peligro inmediato, pero sigue amenazado.",
        "Estaba a punto de salir cuando lo detuvieron en 2019.",
        "Estuvieron a punto de desalojarlos el año pasado.",
        "Estaba siendo golpeado cuando llegaron los vecinos, en marzo.",
        "Estaban siendo desalojados cada año hasta 2019.",
        "Están llegando amenazas por WhatsApp desde enero.",
        "Ahora vive en otra ciudad desde 2020.",
        "Ya llegaron a un acuerdo con la empresa el año pasado.",
        "La investigación está en curso desde 2021.",
        "Están entrando en vigor nuevas leyes contra las ONG.",
        "Fue golpeado en la comisaría en 2015.",
        "La orden de desalojo se ejecutará el próximo año.",
        "Hace unos meses le robaron la computadora.",
    ],
    "fr": [
        "Il a été arrêté l'année dernière.",
        "Les menaces ont commencé il y a deux ans.",
        "Hier soir la police a fouillé le local.",
        "La nuit dernière, ils ont tiré en l'air.",
        "Il a été battu avant-hier soir.",
        "La semaine dernière, ils ont menacé sa femme.",
        "L'audience aura lieu le mois prochain.",
        "Le procès reprendra l'an prochain.",
        "L'expulsion est prévue dans les prochains mois.",
        "Ils arriveront la semaine prochaine pour l'inspection.",
        "Il n'y a pas de danger immédiat pour la famille.",
        "Selon l'avocat, elle n'est pas en danger immédiat.",
        "Aucun danger immédiat n'a été signalé.",
        "L'attaque n'est pas imminente selon nos sources.",
        "Le danger n'était pas imminent à l'époque.",
        "Il n'y a aucun risque imminent selon la mission.",
        "La menace n'est plus imminente depuis le départ de la société.",
        "Ce soir-là, les militaires ont fouillé la maison.",
        "Cette nuit-là, il a disparu.",
        "Il était sur le point de partir quand on l'a arrêté en 2019.",
        "Ils étaient en train de manger quand la police est arrivée, le 3 mai.",
        "Jusqu'à maintenant, personne n'a été inquiété.",
        "Depuis maintenant six mois, il est sans nouvelles.",
        "À partir de maintenant, il doit pointer au commissariat chaque semaine.",
        "Il vit maintenant en exil au Sénégal depuis 2021.",
        "Cela fait maintenant deux ans qu'il est détenu.",
        "Il y a maintenant trois mois que l'enquête traîne.",
        "Ils arrivent à peine à payer le loyer depuis la fermeture.",
        "La procédure judiciaire est en cours depuis 2020.",
        "Ils ont été encerclés pendant trois heures le 12 mars.",
        "Ils sont arrivés hier en fin d'après-midi.",
        "Il a reçu des menaces sur son numéro MTN.",
        "Ils tirent profit de la situation depuis des années.",
        "Les villages sont encerclés par des plantations de palmiers.",
        "Une procédure d'expulsion en cours au tribunal vise la famille.",
        "Le RN a publié un tract contre l'association en 2022.",
    ],
    "pt": [
        "Ele foi preso no ano passado.",
        "As ameaças começaram há dois anos.",
        "Ontem à noite invadiram a sede.",
        "Ontem de noite queimaram a roça.",
        "Naquela noite a milícia atacou o acampamento.",
        "Na semana passada a polícia revistou a casa.",
        "Há três semanas o barraco foi derrubado.",
        "A audiência será no mês que vem.",
        "A reintegração de posse está marcada para o próximo ano.",
        "Nos próximos meses o caso vai a julgamento.",
        "O julgamento ficou para daqui a dois meses.",
        "Não há perigo imediato para a família.",
        "Ela está sem perigo imediato, segundo a advogada.",
        "Ele não corre perigo imediato.",
        "O ataque não é iminente, segundo a polícia.",
        "Não há risco iminente, mas pedimos acompanhamento.",
        "Nenhum perigo iminente foi identificado pela missão.",
        "Ele estava prestes a sair quando foi preso em 2019.",
        "Esteve prestes a ser despejada em 2018.",
        "Estava sendo espancado quando os vizinhos chegaram, em março.",
        "Até agora ninguém foi responsabilizado.",
        "A partir de agora ele deve se apresentar toda semana.",
        "Ele mora agora em Lisboa desde 2020.",
        "Ele vive agora em outra cidade.",
        "Ela já foi ameaçada várias vezes; agora mora em outra cidade.",
        "Madeireiros estão invadindo a terra indígena há anos.",
        "No momento da prisão ele não viu mandado.",
        "No momento em que chegaram, ele fugiu.",
        "Estão chegando ameaças pelo WhatsApp desde janeiro.",
        "Eng. Agr. Paulo Souza foi ameaçado em 2021.",
        "Ele foi espancado na delegacia em 2015.",
        "Foram ameaçados no mês passado por pistoleiros.",
        "A agorafobia não é o assunto deste relatório.",
        "Em 2020, a PM matou dois indígenas na aldeia.",
    ],
    "ar": [
        "تم اعتقاله الشهر الماضي",
        "تعرض للضرب الليلة الماضية",
        "تعرضت للضرب الليله الماضيه",
        "الليلة الفائتة اعتقلوا ثلاثة شبان",
        "الليلة قبل الماضية سمعنا إطلاق نار",
        "في تلك الليلة داهموا المنزل",
        "في الليلة التي اعتقل فيها كان وحيدا",
        "ليلة أمس أحرقوا السيارة",
        "تلقى تهديدات قبل عامين",
        "هوجم المقر الأسبوع الماضي",
        "تعرضت للاعتقال قبل ثلاث سنوات",
        "ستعقد الجلسة الشهر المقبل",
        "سيصدر الحكم العام القادم",
        "خلال الأيام القادمة سنقدم شكوى",
        "لا يوجد خطر فوري على حياته",
        "لا يوجد خطر وشيك حسب المحامي",
        "لا خطر فوري على المعتقلين",
        "ليس هناك خطر داهم على الأسرة",
        "لم يعد هناك خطر فوري بعد الإفراج عنه",
        "كانوا يقتربون من القرية عندما أطلقوا النار عام 2012",
        "الخطر غير وشيك في الوقت الراهن",
        "الهجوم ليس وشيكاً",
        "كان على وشك السفر عندما اعتقل عام 2019",
        "كانوا على وشك مغادرة القرية حين هوجموا",
        "كانوا يطلقون النار على المتظاهرين في 2011",
        "أفرج عنه بعد ساعات من اعتقاله",
        "توفي بعد ساعتين من وصوله إلى المستشفى",
        "لم يتم التحقيق حتى الآن",
        "لحد الآن لم يصدر أي قرار",
        "من الآن فصاعداً عليه التوقيع في المخفر أسبوعياً",
        "يعيش الآن في المنفى منذ 2020",
        "منذ ذلك الحين وهو يتلقى التهديدات",
        "بين الحين والآخر تمر دورية أمام البيت",
        "الآنسة سارة تعرضت للتهديد العام الماضي",
    ],
}


def _positive_rows() -> list[tuple[str, str, str]]:
    return [(lang, text, found) for lang, rows in POSITIVE.items() for text, found in rows]


def _negative_rows() -> list[tuple[str, str]]:
    return [(lang, text) for lang, texts in NEGATIVE.items() for text in texts]


@pytest.mark.parametrize(
    ("language", "text", "found"),
    _positive_rows(),
    ids=[f"{lang}-{i:02d}" for lang, rows in POSITIVE.items() for i in range(len(rows))],
)
def test_says_imminent(language: str, text: str, found: str) -> None:
    hit = find_imminence(text)
    assert hit is not None, f"no imminence found in {text!r}"
    assert hit.found == found
    assert text[hit.start:].startswith(found)
    assert hit.language == language
    assert says_imminent(text)


@pytest.mark.parametrize(
    ("language", "text"),
    _negative_rows(),
    ids=[f"{lang}-{i:02d}" for lang, texts in NEGATIVE.items() for i in range(len(texts))],
)
def test_does_not_say_imminent(language: str, text: str) -> None:
    hit = find_imminence(text)
    assert hit is None, f"{language}: {text!r} fired on {hit and hit.found!r} ({hit and hit.language})"
    assert not says_imminent(text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_enough_distinct_cases_per_language(language: str) -> None:
    assert language in load_phrasebook().languages
    positives = POSITIVE[language]
    texts = {text for text, _ in positives}
    phrasings = {fold_text(found) for _, found in positives}
    entries = {hit.phrase for text, _ in positives if (hit := find_imminence(text)) is not None}
    negatives = {fold_text(text) for text in NEGATIVE[language]}
    assert len(texts) == len(positives), "a positive sentence is listed twice"
    assert len(set(NEGATIVE[language])) == len(NEGATIVE[language]), "a negative sentence is listed twice"
    assert len(phrasings) >= MINIMUM, f"{language}: {len(phrasings)} distinct positive phrasings"
    assert len(entries) >= MINIMUM, f"{language}: {len(entries)} distinct phrasebook phrases exercised"
    assert len(negatives) >= MINIMUM, f"{language}: {len(negatives)} distinct negative sentences"


def test_an_exception_cancels_the_same_words_in_every_language(tmp_path: Path) -> None:
    path = tmp_path / "imminence.yaml"
    path.write_text(
        "languages: {en: {phrases: [imminent], except: [not imminent]}, fr: {phrases: [imminent]}}", encoding="utf-8",
    )
    book = load_phrasebook(path)
    assert book.find("The attack is not imminent.") is None
    hit = book.find("The attack is imminent.")
    assert hit is not None and hit.language == "en"


def test_a_lone_star_stands_for_one_word(tmp_path: Path) -> None:
    path = tmp_path / "imminence.yaml"
    path.write_text("languages: {en: {phrases: [immediate danger], except: [no immediate *]}}", encoding="utf-8")
    book = load_phrasebook(path)
    assert book.find("There is no immediate danger.") is None
    assert book.find("No immediate help; she is in immediate danger.") is not None


def _phrases() -> list[tuple[str, str]]:
    book = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    return [(lang, phrase) for lang, entry in book["languages"].items() for phrase in entry["phrases"]]


PHRASES = _phrases()


@pytest.mark.parametrize(
    "phrase", [phrase for _, phrase in PHRASES], ids=[f"{lang}-{i:03d}" for i, (lang, _) in enumerate(PHRASES)],
)
def test_every_phrase_fires_on_its_own(phrase: str) -> None:
    """Each phrase of the book alone in a sentence is found whole: no exception swallows it, the pre-scan sees it."""
    written = phrase.rstrip("*")
    hit = find_imminence(f"Report: {written}")
    assert hit is not None, f"{phrase!r} alone does not fire"
    assert fold_text(hit.found) == fold_text(written).strip()
