/*
 * tables.c: the simulator's data: user agents by operating system (current
 * browsers, social in-app browsers, smart TVs, crawlers and headless
 * automation), visitor countries with their Accept-Language and plausible
 * residential address prefixes, data-center prefixes for bots, and the
 * names traffic carries (publisher and partner sites, CTV apps, placements,
 * audiences, search keywords by theme).
 *
 * Site and app names are made up (no real publisher is implied); address
 * prefixes are public ranges of large ISPs and clouds, good enough to look
 * real, not a geo database.
 */
#include "sim_internal.h"

#define STRINGS(a) {a, (uint32_t)PM_ARRAY_LEN(a)}

/* --- user agents ------------------------------------------------------------ */

static const char *const ua_windows[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36 OPR/115.0.0.0",
};
static const char *const ua_macos[] = {
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
};
static const char *const ua_linux[] = {
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
};
static const char *const ua_ios[] = {
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_7_10 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
};
static const char *const ua_android[] = {
    "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 15; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.107 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-G991B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 12; moto g(60)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; 23116PN5BC) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.102 Mobile Safari/537.36",
};
static const char *const ua_ipados[] = {
    "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
};
static const char *const ua_android_tablet[] = {
    "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; Lenovo TB-X606F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.107 Safari/537.36",
};

const pm__sim_strings_t pm__sim_user_agents[OS__COUNT] = {
    [OS_WINDOWS] = STRINGS(ua_windows), [OS_MACOS] = STRINGS(ua_macos),   [OS_LINUX] = STRINGS(ua_linux),
    [OS_IOS] = STRINGS(ua_ios),         [OS_ANDROID] = STRINGS(ua_android), [OS_IPADOS] = STRINGS(ua_ipados),
    [OS_ANDROID_TABLET] = STRINGS(ua_android_tablet),
};

const uint8_t pm__sim_os_device[OS__COUNT] = {
    [OS_WINDOWS] = DEV_DESKTOP, [OS_MACOS] = DEV_DESKTOP, [OS_LINUX] = DEV_DESKTOP,       [OS_IOS] = DEV_MOBILE,
    [OS_ANDROID] = DEV_MOBILE,  [OS_IPADOS] = DEV_TABLET, [OS_ANDROID_TABLET] = DEV_TABLET,
};

/* Roughly today's traffic mix: 38% desktop, 55% mobile, 7% tablet. */
const double pm__sim_os_weight[OS__COUNT] = {
    [OS_WINDOWS] = 26.0, [OS_MACOS] = 10.0, [OS_LINUX] = 2.0,          [OS_IOS] = 25.0,
    [OS_ANDROID] = 30.0, [OS_IPADOS] = 4.5, [OS_ANDROID_TABLET] = 2.5,
};

static const char *const ua_tv[] = {
    "Roku/DVP-14.0 (14.0.4.5300-46)",
    "Mozilla/5.0 (SMART-TV; LINUX; Tizen 7.0) AppleWebKit/537.36 (KHTML, like Gecko) 94.0.4606.31/7.0 TV Safari/537.36",
    "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/94.0.4606.128 Safari/537.36 WebAppManager",
    "Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7633.3445N; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/130.0.6723.107 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 12; BRAVIA 4K VH2 Build/STT2.230427.001) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Safari/537.36",
};
const pm__sim_strings_t pm__sim_tv_agents = STRINGS(ua_tv);

static const char *const inapp_ios[] = {
    " [FBAN/FBIOS;FBAV/489.0.0.34.109;FBBV/672345112;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/18.1.1;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]",
    " Instagram 356.0.0.25.109 (iPhone14,5; iOS 18_1_1; en_US; en; scale=3.00; 1170x2532; 658745102)",
};
static const char *const inapp_android[] = {
    " [FB_IAB/FB4A;FBAV/489.0.0.66.81;]",
    " Instagram 356.0.0.41.101 Android (34/14; 450dpi; 1080x2340; samsung; SM-S921B; e1s; s5e9945; en_US; 658745230)",
};
const pm__sim_strings_t pm__sim_inapp_ios = STRINGS(inapp_ios);
const pm__sim_strings_t pm__sim_inapp_android = STRINGS(inapp_android);

static const char *const crawlers[] = {
    "AdsBot-Google (+http://www.google.com/adsbot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "python-requests/2.32.3",
    "curl/8.11.0",
};
const pm__sim_strings_t pm__sim_crawler_agents = STRINGS(crawlers);

static const char *const headless[] = {
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.69 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 8.0.0; SM-G955U Build/R16NW) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/87.0.4280.141 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 13_2_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0.3 Mobile/15E148 Safari/604.1",
};
const pm__sim_strings_t pm__sim_headless_agents = STRINGS(headless);

/* --- countries and addresses ------------------------------------------------ */

const pm__sim_country_t pm__sim_countries[] = {
    {"en-US,en;q=0.9", 44, {{73, 162}, {98, 207}, {24, 16}, {71, 59}, {174, 52}, {67, 180}}, {0x2607, 0xfb90}},
    {"en-GB,en;q=0.9", 10, {{86, 140}, {81, 98}, {92, 40}, {109, 150}}, {0x2a01, 0x4c8}},
    {"de-DE,de;q=0.9,en;q=0.8", 9, {{84, 150}, {91, 64}, {93, 210}, {79, 220}}, {0x2a02, 0x8108}},
    {"fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7", 7, {{90, 45}, {86, 246}, {78, 193}}, {0x2a01, 0xcb00}},
    {"es-ES,es;q=0.9", 5, {{83, 45}, {88, 12}, {79, 152}}, {0, 0}},
    {"pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7", 6, {{177, 92}, {179, 108}, {187, 36}, {201, 17}}, {0x2804, 0x14c}},
    {"en-CA,en;q=0.9,fr-CA;q=0.8", 6, {{99, 229}, {142, 116}, {70, 51}}, {0, 0}},
    {"it-IT,it;q=0.9,en;q=0.8", 4, {{79, 35}, {93, 44}, {151, 38}}, {0, 0}},
    {"nl-NL,nl;q=0.9,en;q=0.8", 3, {{77, 169}, {84, 85}, {145, 53}}, {0, 0}},
    {"en-AU,en;q=0.9", 6, {{101, 184}, {110, 144}, {120, 148}}, {0x2001, 0x8003}},
};
const uint32_t pm__sim_ncountries = PM_ARRAY_LEN(pm__sim_countries);

/* AWS, Google Cloud, Azure, DigitalOcean, Hetzner, OVH, Scaleway, Linode. */
const uint8_t pm__sim_datacenter_v4[][2] = {
    {3, 88},    {18, 208}, {52, 14},  {54, 210}, {34, 82},  {35, 196}, {104, 196}, {20, 84},
    {40, 117},  {138, 68}, {159, 65}, {167, 99}, {5, 9},    {95, 216}, {51, 38},   {51, 15},
    {139, 162}, {172, 104},
};
const uint32_t pm__sim_ndatacenter = PM_ARRAY_LEN(pm__sim_datacenter_v4);

/* --- names traffic carries ----------------------------------------------------- */

static const char *const publishers[] = {
    "dailyledger-news.com", "thehomefront.net",   "morningdispatch.com", "cityweekly-online.com",
    "healthyhabits.io",     "techsmarts.net",     "moneymatters-daily.com", "kitchenstories.net",
    "travelnotes.co",       "sportsbeat-live.com", "parentinghub.org",   "gadgetreview.site",
    "thelocalpaper.com",    "weekendreads.net",   "autoworld-news.com", "garden-and-home.net",
};
const pm__sim_strings_t pm__sim_publishers = STRINGS(publishers);

static const char *const sections[] = {"news", "lifestyle", "money", "health", "tech", "food", "travel", "sports"};
const pm__sim_strings_t pm__sim_sections = STRINGS(sections);

static const char *const partners[] = {
    "couponcrate.com", "dealhunter.net",  "bestpicks-review.com", "savingsowl.com",  "cashbackhero.io",
    "vpncompared.net", "insurequotes.info", "fitnessrank.com",    "mealkitguide.com", "topten-reviews.net",
    "promo-codes.org", "studentdeals.co",
};
const pm__sim_strings_t pm__sim_partners = STRINGS(partners);

static const char *const ctv_apps[] = {
    "fast_news_24",  "movie_vault",  "sports_replay", "cooking_live", "true_crime_tv", "kids_toons",
    "home_reno_hd",  "travel_escape", "comedy_loop",  "nature_4k",    "retro_sitcoms", "weather_now",
};
const pm__sim_strings_t pm__sim_ctv_apps = STRINGS(ctv_apps);

static const char *const social_placements[] = {"feed", "stories", "reels", "right_column", "audience_network",
                                               "marketplace"};
const pm__sim_strings_t pm__sim_social_placements = STRINGS(social_placements);

static const char *const social_audiences[] = {"lookalike_1pct", "interest_broad", "retargeting_30d", "advantage_plus"};
const pm__sim_strings_t pm__sim_social_audiences = STRINGS(social_audiences);

static const char *const match_types[] = {"exact", "phrase", "broad"};
const pm__sim_strings_t pm__sim_match_types = STRINGS(match_types);

static const char *const native_positions[] = {"below_article", "sidebar", "in_feed"};
const pm__sim_strings_t pm__sim_native_positions = STRINGS(native_positions);

static const char *const keyword_prefixes[] = {"", "best ", "cheap ", "top ", "buy "};
const pm__sim_strings_t pm__sim_keyword_prefixes = STRINGS(keyword_prefixes);

static const char *const kw_vpn[] = {
    "vpn",          "vpn service",   "vpn free trial", "vpn for streaming", "secure vpn",     "vpn app",
    "vpn for iphone", "fast vpn",    "vpn deal",       "private browsing",  "vpn for windows", "no log vpn",
};
static const char *const kw_insurance[] = {
    "car insurance quote", "auto insurance",  "cheap car insurance", "insurance comparison",
    "home insurance quote", "renters insurance", "insurance for new drivers", "full coverage insurance",
    "insurance quotes online", "bundle home and auto",
};
static const char *const kw_fitness[] = {
    "workout app",      "home workout",   "fitness tracker app", "weight loss app", "yoga app",
    "personal trainer app", "hiit workouts", "running plan app",  "strength training plan",
};
static const char *const kw_meal[] = {
    "meal kit",         "meal kit delivery", "healthy meal delivery", "meal prep service", "dinner kit",
    "vegetarian meal kit", "family meal kit", "meal kit discount",   "recipe box",
};
static const char *const kw_generic[] = {
    "online deals",  "discount code", "free trial", "sign up offer", "compare prices", "reviews",
    "best price",    "special offer", "how to choose", "near me",
};

const pm__sim_theme_t pm__sim_themes[] = {
    {{"vpn", "privacy", "secure", NULL}, STRINGS(kw_vpn)},
    {{"insur", "quote", "policy", NULL}, STRINGS(kw_insurance)},
    {{"fitness", "workout", "gym", "app"}, STRINGS(kw_fitness)},
    {{"meal", "food", "kit", "recipe"}, STRINGS(kw_meal)},
    {{NULL}, STRINGS(kw_generic)},
};
const uint32_t pm__sim_nthemes = PM_ARRAY_LEN(pm__sim_themes);
