#!/usr/bin/env bash
# Generates the prompts queued callers hear (config/prompts/{zh,en,tone}/*.wav, 8 kHz mono 16-bit
# PCM) with espeak-ng (Debian package espeak-ng) and tools/prompts/resample.py (Python standard
# library). The generated files are committed; run again after changing a text.
#
#   welcome            when the call is answered
#   position_pre N position_post   "you are number N in the queue" (n1..n20 are the numbers)
#   wait_pre M wait_post           "the estimated waiting time is M minutes"
#   busy, callback, closed         closing announcements before the gateway hangs up
#   tone/comfort                   played in a loop between announcements
set -euo pipefail
cd "$(dirname "$0")/../.."
out=config/prompts
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out/zh" "$out/en" "$out/tone"

say() { # voice lang name text
  espeak-ng -v "$1" -s 150 -w "$tmp/x.wav" "$4"
  python3 tools/prompts/resample.py "$tmp/x.wav" "$out/$2/$3.wav"
}

say cmn zh welcome "您好，欢迎致电客户服务热线。坐席正忙，请您稍候，我们将尽快为您服务。"
say cmn zh position_pre "您前面排在第"
say cmn zh position_post "位"
say cmn zh wait_pre "预计等待时间"
say cmn zh wait_post "分钟"
say cmn zh busy "很抱歉，现在所有坐席都在忙，请稍后再拨。再见。"
say cmn zh callback "很抱歉，现在所有坐席都在忙。我们会尽快给您回电。再见。"
say cmn zh closed "很抱歉，现在不是服务时间，请在服务时间内再拨。再见。"
zh_num=(零 一 二 三 四 五 六 七 八 九 十 十一 十二 十三 十四 十五 十六 十七 十八 十九 二十)
for n in $(seq 1 20); do say cmn zh "n$n" "${zh_num[$n]}"; done

say en en welcome "Welcome to the customer service hotline. All our agents are busy. Please hold, and we will be with you shortly."
say en en position_pre "You are number"
say en en position_post "in the queue."
say en en wait_pre "The estimated waiting time is"
say en en wait_post "minutes."
say en en busy "Sorry, all our agents are busy. Please call again later. Goodbye."
say en en callback "Sorry, all our agents are busy. We will call you back as soon as possible. Goodbye."
say en en closed "Sorry, the hotline is closed now. Please call again during opening hours. Goodbye."
for n in $(seq 1 20); do say en en "n$n" "$n"; done

python3 tools/prompts/resample.py --tone "$out/tone/comfort.wav"
du -sh "$out"
