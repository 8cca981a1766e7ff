package graphsim

import (
	"strconv"
)

// This file renders a call record's sessions, segments, endpoints, media
// and streams (microsoft.graph.callRecords session, segment,
// participantEndpoint / serviceEndpoint, clientUserAgent /
// serviceUserAgent, media, networkInfo, deviceInfo, mediaStream,
// userFeedback, failureInfo). Session j of version v of a record is a
// function of the record's key, j and, for session 0 only, v.

// Endpoint kinds.
const (
	epUser    = iota // a tenant user on a Teams client
	epGuest          // a guest in a meeting, on the web client
	epPhone          // a dial-in participant of a meeting
	epGateway        // the Direct Routing SBC, through Teams' gateway
	epBot            // a resource account (auto attendant, call queue)
	epMCU            // the meeting's conferencing server
)

type endpoint struct {
	kind  int
	u     *person
	h     uint64 // the endpoint's own hash, for its figures
	trunk trunk  // epGateway
	bot   int    // epBot: index into botRoles
}

// failure is a failureInfo; a zero stage means null.
type failure struct{ stage, reason string }

type crSession struct {
	start, end     int64
	caller, callee endpoint
	fail           failure
	segments       int
	video, screen  bool
	bypass         bool // media bypass on the Direct Routing trunk
	dr             bool
}

// Session hash tags.
const (
	sesKind = iota + 1
	sesUser
	sesJoin
	sesLeave
	sesSegs
	sesVideo
	sesFail
	sesFeedback
	sesCalleeFeedback
	sesExtra
	sesEndpoint
	sesID
	sesStream = 64
)

var guestNames = []string{"Gast – Ærø", "Visitor (Fabrikam)", "محمد الضيف", "访客 王", "Jürgen Ü. (extern)", `"Kim" O'Neil`, "Invité Zoë"}

// session computes session j of version v of r.
func (c *crSet) session(r *crRec, v, j int) crSession {
	s := c.s
	var ss crSession
	span := r.end - r.start
	added := j >= r.baseSessions
	ss.segments = 1
	switch x := r.sh(j, sesSegs) % 10; {
	case x >= 9:
		ss.segments = 3
	case x >= 6:
		ss.segments = 2
	}
	if !r.ref.teams {
		i := r.ref.i
		ss.dr = true
		user := endpoint{kind: epUser, u: &s.users[s.userIdx(i)], h: r.sh(0, sesEndpoint)}
		if r.callType == ctInUcap {
			user = endpoint{kind: epBot, bot: int(r.h(crtPeer) % uint64(len(s.bots))), h: r.sh(0, sesEndpoint)}
		}
		tr := trunks[s.h(i, tagTrunk)%uint64(len(trunks))]
		gw := endpoint{kind: epGateway, trunk: tr, h: r.sh(j, sesEndpoint+1)}
		ss.bypass = tr.bypass
		switch {
		case j == 0:
			ss.start, ss.end = r.start, r.firstEnd
			if r.callType == ctOut {
				ss.caller, ss.callee = user, gw
			} else {
				ss.caller, ss.callee = gw, user
			}
			if !r.ok {
				ss.fail = failure{"callSetup", "PSTN call failed: " + sipFailures[s.h(i, tagFail)%uint64(len(sipFailures))].phrase}
				ss.segments = 1
			}
		case j == 1 && r.leg:
			tr := trunks[s.h(i+1, tagTrunk)%uint64(len(trunks))]
			ss.start, ss.end = r.legStart, r.legEnd
			ss.caller, ss.callee = user, endpoint{kind: epGateway, trunk: tr, h: r.sh(j, sesEndpoint+1)}
			ss.bypass = tr.bypass
			if !r.legOK {
				ss.fail = failure{"callSetup", "Transfer target did not answer"}
				ss.segments = 1
			}
		default:
			ss.caller, ss.callee = user, gw
		}
	} else {
		org := endpoint{kind: epUser, u: c.organizer(r), h: r.sh(0, sesEndpoint)}
		switch {
		case !r.meeting:
			peer := endpoint{kind: epUser, u: &s.users[r.h(crtPeer)%uint64(len(s.users))], h: r.sh(1, sesEndpoint)}
			ss.caller, ss.callee = org, peer
			if j == 0 {
				ss.start, ss.end = r.start, r.end
			}
			ss.video = r.video
		default:
			mcu := endpoint{kind: epMCU, h: r.sh(j, sesEndpoint+1)}
			ss.callee = mcu
			if j == 0 {
				ss.caller = org
				ss.start, ss.end = r.start, r.end
				ss.screen = r.screen
			} else {
				h := r.sh(j, sesKind)
				ep := endpoint{h: r.sh(j, sesEndpoint)}
				switch x := h % 100; {
				case x < 70:
					ep.kind, ep.u = epUser, &s.users[r.sh(j, sesUser)%uint64(len(s.users))]
				case x < 85:
					ep.kind = epGuest
				default:
					ep.kind = epPhone
				}
				ss.caller = ep
				join := r.start + ticks(r.sh(j, sesJoin), span/2)
				ss.start, ss.end = join, r.end-ticks(r.sh(j, sesLeave), (r.end-join)/3)
			}
			ss.video = r.video && ss.caller.kind != epPhone && r.sh(j, sesVideo)%2 == 0
			if r.large && j > 0 {
				// Most of a large meeting's audience listens: one segment,
				// no video, which keeps a 200-session record near a megabyte.
				ss.video = ss.video && r.sh(j, sesVideo)%5 == 0
				if r.sh(j, sesSegs)%10 != 0 {
					ss.segments = 1
				}
			}
		}
		if r.sh(j, sesFail)%50 == 0 {
			ss.fail = failure{"midcall", "MediaConnectivityFailure"}
		}
	}
	if added || (ss.start == 0 && ss.end == 0) {
		// A session Graph adds in an update (a reconnect), or the second
		// session of a peer-to-peer call: inside the call's span.
		ss.start = r.start + span/2 + ticks(r.sh(j, sesJoin), span/4)
		ss.end = ss.start + ticks(r.sh(j, sesLeave), r.end-ss.start)
	}
	return ss
}

// appendSession appends session j of version v of r.
func (c *crSet) appendSession(dst []byte, r *crRec, v, j int, segments bool) []byte {
	ss := c.session(r, v, j)
	dst = append(dst, `{"modalities":["audio"`...)
	if ss.video {
		dst = append(dst, `,"video"`...)
	}
	if ss.screen {
		dst = append(dst, `,"screenSharing"`...)
	}
	dst = append(dst, `],"startDateTime":`...)
	dst = appendTrimmedTime(dst, ss.start)
	dst = append(dst, `,"endDateTime":`...)
	dst = appendTrimmedTime(dst, ss.end)
	dst = append(dst, `,"id":"`...)
	if j == 0 {
		// Graph's example: the first session carries the record's id.
		dst = appendUUID(dst, r.id)
	} else {
		dst = appendUUID(dst, uuidBits{r.sh(j, sesID), mix64(r.sh(j, sesID)), 4})
	}
	dst = append(dst, `","isTest":false,"caller":`...)
	feedback := r.sh(j, sesFeedback)%15 == 0 || (j == 0 && v >= 2 && r.laterFeedback)
	dst = c.appendEndpoint(dst, r, ss.caller, feedback, r.sh(j, sesFeedback)^uint64(v))
	dst = append(dst, `,"callee":`...)
	dst = c.appendEndpoint(dst, r, ss.callee, r.sh(j, sesCalleeFeedback)%20 == 0, r.sh(j, sesCalleeFeedback))
	dst = append(dst, `,"failureInfo":`...)
	dst = appendFailure(dst, ss.fail)
	if x := r.sh(j, sesExtra); x%10 == 0 {
		// Not in the v1.0 schema.
		dst = append(dst, `,"joinMethod":"`...)
		dst = append(dst, []string{"link", "calendar", "dialIn", "callMe"}[x/10%4]...)
		dst = append(dst, '"')
	}
	if segments {
		dst = append(dst, `,"segments":[`...)
		span := ss.end - ss.start
		for k := range ss.segments {
			if k > 0 {
				dst = append(dst, ',')
			}
			lo := ss.start + span*int64(k)/int64(ss.segments)
			hi := ss.start + span*int64(k+1)/int64(ss.segments)
			lo, hi = lo-lo%nsTick, hi-hi%nsTick
			if k == ss.segments-1 {
				hi = ss.end
			}
			dst = c.appendSegment(dst, r, &ss, v, j, k, lo, hi)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

func appendFailure(dst []byte, f failure) []byte {
	if f.stage == "" {
		return append(dst, "null"...)
	}
	dst = append(dst, `{"stage":"`...)
	dst = append(dst, f.stage...)
	dst = append(dst, `","reason":`...)
	dst = appendJSONString(dst, f.reason)
	return append(dst, '}')
}

// appendSegment appends segment k ([lo, hi]) of session j.
func (c *crSet) appendSegment(dst []byte, r *crRec, ss *crSession, v, j, k int, lo, hi int64) []byte {
	dst = append(dst, `{"startDateTime":`...)
	dst = appendTrimmedTime(dst, lo)
	dst = append(dst, `,"endDateTime":`...)
	dst = appendTrimmedTime(dst, hi)
	dst = append(dst, `,"id":"`...)
	sid := r.sh(j, sesID+uint64(k+1)*1000)
	dst = appendUUID(dst, uuidBits{sid, mix64(sid), 4})
	dst = append(dst, `","caller":`...)
	dst = c.appendEndpoint(dst, r, ss.caller, false, 0)
	dst = append(dst, `,"callee":`...)
	dst = c.appendEndpoint(dst, r, ss.callee, false, 0)
	dst = append(dst, `,"failureInfo":`...)
	if k == ss.segments-1 {
		dst = appendFailure(dst, ss.fail)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"media":[`...)
	labels := []string{"main-audio"}
	if ss.video {
		labels = append(labels, "main-video")
	}
	if ss.screen {
		labels = append(labels, "applicationsharing-video")
	}
	for m, label := range labels {
		if m > 0 {
			dst = append(dst, ',')
		}
		dst = c.appendMedia(dst, r, ss, v, j, k, m, label, lo, hi)
	}
	return append(dst, `]}`...)
}

func (c *crSet) appendMedia(dst []byte, r *crRec, ss *crSession, v, j, k, m int, label string, lo, hi int64) []byte {
	dst = append(dst, `{"label":"`...)
	dst = append(dst, label...)
	dst = append(dst, `","callerNetwork":`...)
	dst = appendNetwork(dst, ss.caller)
	dst = append(dst, `,"calleeNetwork":`...)
	dst = appendNetwork(dst, ss.callee)
	dst = append(dst, `,"callerDevice":`...)
	dst = appendDevice(dst, ss.caller)
	dst = append(dst, `,"calleeDevice":`...)
	dst = appendDevice(dst, ss.callee)
	dst = append(dst, `,"streams":[`...)
	for d, dir := range [...]string{"callerToCallee", "calleeToCaller"} {
		if d > 0 {
			dst = append(dst, ',')
		}
		h := r.sh(j, sesStream+uint64(k)*16+uint64(m)*4+uint64(d))
		if j == 0 {
			// Updates recompute the first session's figures.
			h = mix64(h + uint64(v))
		}
		dst = appendStream(dst, h, dir, label != "main-audio", ss, lo, hi)
	}
	return append(dst, `]}`...)
}

var (
	audioCodecsTeams = []string{"satin", "silkWide", "opus", "satinFullband"}
	audioCodecsPSTN  = []string{"pcmu", "pcma", "g722", "silkNarrow"}
	videoCodecs      = []string{"h264", "h264s", "av1", "xrtvc1"}
)

// appendStream appends one mediaStream. Figures are TimeSpans in ISO 8601
// (mostly whole milliseconds, one in eight to the 100 ns tick, and now and
// then a round trip over a minute), rates as JSON numbers, and the
// properties of the other kind of media null, as Graph sends them.
func appendStream(dst []byte, h uint64, dir string, video bool, ss *crSession, lo, hi int64) []byte {
	audio := !video
	dst = append(dst, `{"streamId":"`...)
	dst = strconv.AppendUint(dst, streamSub(h, 1)%4294967295, 10)
	dst = append(dst, `","startDateTime":`...)
	dst = appendTrimmedTime(dst, lo)
	dst = append(dst, `,"endDateTime":`...)
	dst = appendTrimmedTime(dst, hi)
	dst = append(dst, `,"streamDirection":"`...)
	dst = append(dst, dir...)
	dst = append(dst, `","audioCodec":`...)
	switch {
	case video:
		dst = append(dst, "null"...)
	case ss.dr:
		dst = appendASCII(dst, audioCodecsPSTN[streamSub(h, 2)%4])
	default:
		dst = appendASCII(dst, audioCodecsTeams[streamSub(h, 2)%4])
	}
	dst = append(dst, `,"videoCodec":`...)
	if video {
		dst = appendASCII(dst, videoCodecs[streamSub(h, 3)%4])
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"averageAudioDegradation":`...)
	dst = streamRatio(dst, audio && streamSub(h, 4)%5 != 0, h, 5, 1_500_000)
	dst = append(dst, `,"averageAudioNetworkJitter":`...)
	dst = streamDur(dst, audio, h, 6, 40)
	dst = append(dst, `,"averageBandwidthEstimate":`...)
	dst = strconv.AppendUint(dst, 50_000+streamSub(h, 7)%9_950_000, 10)
	dst = append(dst, `,"averageFreezeDuration":`...)
	dst = streamDur(dst, video, h, 8, 900)
	dst = append(dst, `,"averageJitter":`...)
	dst = streamDur(dst, true, h, 9, 40)
	dst = append(dst, `,"averagePacketLossRate":`...)
	dst = streamRatio(dst, true, h, 10, 50_000)
	dst = append(dst, `,"averageRatioOfConcealedSamples":`...)
	dst = streamRatio(dst, audio, h, 11, 80_000)
	dst = append(dst, `,"averageReceivedFrameRate":`...)
	if video {
		dst = strconv.AppendFloat(dst, float64(15+streamSub(h, 12)%16)+float64(streamSub(h, 13)%100)/100, 'f', -1, 64)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"averageRoundTripTime":`...)
	dst = streamDur(dst, true, h, 14, 250)
	dst = append(dst, `,"averageVideoFrameLossPercentage":`...)
	dst = streamRatio(dst, video, h, 15, 5_000_000)
	dst = append(dst, `,"averageVideoFrameRate":`...)
	if video {
		dst = strconv.AppendFloat(dst, float64(10+streamSub(h, 16)%21)+float64(streamSub(h, 17)%1000)/1000, 'f', -1, 64)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"averageVideoPacketLossRate":`...)
	dst = streamRatio(dst, video, h, 18, 30_000)
	dst = append(dst, `,"isAudioForwardErrorCorrectionUsed":`...)
	if audio {
		dst = strconv.AppendBool(dst, streamSub(h, 19)%3 == 0)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"lowFrameRateRatio":`...)
	dst = streamRatio(dst, video, h, 20, 200_000)
	dst = append(dst, `,"lowVideoProcessingCapabilityRatio":`...)
	dst = streamRatio(dst, video, h, 21, 100_000)
	dst = append(dst, `,"maxAudioNetworkJitter":`...)
	dst = streamDur(dst, audio, h, 22, 200)
	dst = append(dst, `,"maxJitter":`...)
	dst = streamDur(dst, true, h, 23, 200)
	dst = append(dst, `,"maxPacketLossRate":`...)
	dst = streamRatio(dst, true, h, 24, 200_000)
	dst = append(dst, `,"maxRatioOfConcealedSamples":`...)
	dst = streamRatio(dst, audio, h, 25, 300_000)
	dst = append(dst, `,"maxRoundTripTime":`...)
	if x := streamSub(h, 26); x%30 == 0 {
		// A pathological stream: over a minute ("PT1M3.5S").
		dst = appendISODuration(dst, 60*nsSecond+int64(x>>8%600)*100*nsMilli)
	} else {
		dst = streamDur(dst, true, h, 27, 900)
	}
	dst = append(dst, `,"packetUtilization":`...)
	dst = strconv.AppendUint(dst, streamSub(h, 28)%5_000_000, 10)
	dst = append(dst, `,"postForwardErrorCorrectionPacketLossRate":`...)
	dst = streamRatio(dst, streamSub(h, 29)%4 != 0, h, 30, 20_000)
	dst = append(dst, `,"rmsFreezeDuration":`...)
	dst = streamDur(dst, video, h, 31, 1500)
	dst = append(dst, `,"wasMediaBypassed":`...)
	dst = strconv.AppendBool(dst, ss.bypass)
	if x := streamSub(h, 32); x%12 == 0 {
		// Not in the v1.0 schema.
		dst = append(dst, `,"averageJitterBufferSize":`...)
		dst = appendISODuration(dst, int64(20+x>>8%80)*nsMilli)
	}
	return append(dst, '}')
}

// streamSub is figure n's hash of the stream hashed h.
func streamSub(h, n uint64) uint64 { return mix64(h ^ n*0xD6E8FEB86659FD93) }

// streamDur appends figure n as a TimeSpan of up to maxMs milliseconds,
// or null unless present.
func streamDur(dst []byte, present bool, h, n uint64, maxMs int64) []byte {
	if !present {
		return append(dst, "null"...)
	}
	x := streamSub(h, n)
	ns := int64(x%uint64(maxMs)+1) * nsMilli
	if x>>40%8 == 0 {
		ns += int64(x>>20%10000) * nsTick
	}
	return appendISODuration(dst, ns)
}

// streamRatio appends figure n as a rate below maxMillionths millionths,
// or null unless present.
func streamRatio(dst []byte, present bool, h, n, maxMillionths uint64) []byte {
	if !present {
		return append(dst, "null"...)
	}
	return strconv.AppendFloat(dst, float64(streamSub(h, n)%maxMillionths)/1e6, 'f', -1, 64)
}

type clientAgent struct{ header, version, platform, family string }

var clientAgents = []clientAgent{
	{"49/24050607517/TeamsClient/Windows/10.0.22631", "1415/24050607517", "windows", "teams"},
	{"49/24050607517/TeamsClient/Mac/14.4.1", "1415/24050607517", "macOS", "teams"},
	{"CallSignalingAgent (TeamsMobile-iOS 6.9.1)", "6.9.1", "iOS", "teams"},
	{"CallSignalingAgent (TeamsMobile-Android 1416/1.0.0.2024)", "1416/1.0.0.2024", "android", "teams"},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36 Edg/125.0.0.0 TeamsWeb/24050607517", "24050607517", "web", "teams"},
	{"Poly CCX 600/8.1.3.1301 (Teams Phone)", "8.1.3.1301", "ipPhone", "teams"},
	{"MicrosoftTeamsRoom/5.0.111.0 (Windows 10 IoT)", "5.0.111.0", "roomSystem", "teams"},
}

var botRoles = []string{"skypeForBusinessAutoAttendant", "skypeForBusinessCallQueues"}

var cpuNames = []string{"11th Gen Intel(R) Core(TM) i7-1185G7 @ 3.00GHz", "Apple M2", "AMD Ryzen 7 PRO 7840U w/ Radeon 780M Graphics", "Snapdragon(R) X Elite - X1E80100"}

// appendEndpoint appends a participantEndpoint (users, guests, dial-ins)
// or a serviceEndpoint (gateway, resource accounts, conferencing server),
// with a feedback rating when feedback is set (fh its hash).
func (c *crSet) appendEndpoint(dst []byte, r *crRec, ep endpoint, feedback bool, fh uint64) []byte {
	switch ep.kind {
	case epGateway, epBot, epMCU:
		dst = append(dst, `{"@odata.type":"#microsoft.graph.callRecords.serviceEndpoint","userAgent":{"@odata.type":"#microsoft.graph.callRecords.serviceUserAgent","headerValue":`...)
		switch ep.kind {
		case epGateway:
			dst = appendJSONString(dst, ep.trunk.fqdn+" (Mediation/SBC 7.40A.500)")
			dst = append(dst, `,"applicationVersion":null,"role":"skypeForBusinessMicrosoftTeamsGateway"}}`...)
		case epBot:
			dst = append(dst, `"Microsoft.Teams.Voice.AppPlatform/1.0"`...)
			dst = append(dst, `,"applicationVersion":null,"role":"`...)
			dst = append(dst, botRoles[ep.bot%len(botRoles)]...)
			dst = append(dst, `"}}`...)
		default:
			dst = append(dst, `"av-mcu/2024.5.7.1"`...)
			dst = append(dst, `,"applicationVersion":"2024.5.7.1","role":"skypeForBusinessAudioVideoMcu"}}`...)
		}
		return dst
	}
	dst = append(dst, `{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","name":`...)
	h := ep.h
	switch ep.kind {
	case epPhone:
		dst = append(dst, `null,"cpuCoresCount":null,"cpuName":null,"cpuProcessorSpeedInMhz":null`...)
		dst = append(dst, `,"userAgent":{"@odata.type":"#microsoft.graph.callRecords.serviceUserAgent","headerValue":"ATC/2024.5.7.1","applicationVersion":null,"role":"audioTeleconferencerController"}`...)
	default:
		if h%5 == 0 {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, `"DESKTOP-`...)
			dst = appendBase62n(dst, h>>3, 7)
			dst = append(dst, '"')
		}
		if h>>8%4 == 0 {
			dst = append(dst, `,"cpuCoresCount":null,"cpuName":null,"cpuProcessorSpeedInMhz":null`...)
		} else {
			dst = append(dst, `,"cpuCoresCount":`...)
			dst = strconv.AppendUint(dst, 4<<(h>>12%3), 10)
			dst = append(dst, `,"cpuName":`...)
			dst = appendASCII(dst, cpuNames[h>>16%uint64(len(cpuNames))])
			dst = append(dst, `,"cpuProcessorSpeedInMhz":`...)
			dst = strconv.AppendUint(dst, 1800+h>>20%1700, 10)
		}
		ag := clientAgents[h>>24%uint64(len(clientAgents))]
		if ep.kind == epGuest {
			ag = clientAgents[4]
		}
		dst = append(dst, `,"userAgent":{"@odata.type":"#microsoft.graph.callRecords.clientUserAgent","headerValue":`...)
		dst = appendJSONString(dst, ag.header)
		dst = append(dst, `,"applicationVersion":`...)
		dst = appendJSONString(dst, ag.version)
		dst = append(dst, `,"applicationId":null,"azureADAppId":null,"communicationServiceId":null,"platform":"`...)
		dst = append(dst, ag.platform...)
		dst = append(dst, `","productFamily":"`...)
		dst = append(dst, ag.family...)
		dst = append(dst, `"}`...)
	}
	dst = append(dst, `,"identity":{"@odata.type":"#microsoft.graph.communicationsIdentitySet","application":null,"device":null,"user":`...)
	switch ep.kind {
	case epUser:
		dst = c.appendUserIdentity(dst, ep.u)
		dst = append(dst, `,"guest":null,"phone":null`...)
	case epGuest:
		dst = append(dst, `null,"guest":{"id":"`...)
		dst = appendUUID(dst, uuidBits{mix64(h ^ 7), mix64(h ^ 8), 4})
		dst = append(dst, `","displayName":`...)
		dst = appendJSONString(dst, guestNames[h>>28%uint64(len(guestNames))])
		dst = append(dst, `,"tenantId":null},"phone":null`...)
	default: // epPhone
		dst = append(dst, `null,"guest":null,"phone":{"id":"`...)
		cc := countryCodes[h>>28%uint64(len(countryCodes))]
		dst = append(dst, cc.prefix...)
		dst = strconv.AppendUint(dst, 2_000_000+h>>32%7_000_000, 10)
		dst = append(dst, `***","displayName":null}`...)
	}
	dst = append(dst, `,"endpointType":"default"}`...)
	if ep.kind == epUser {
		dst = append(dst, `,"associatedIdentity":`...)
		dst = c.appendUserIdentity(dst, ep.u)
	}
	dst = append(dst, `,"feedback":`...)
	if !feedback {
		dst = append(dst, "null"...)
		return append(dst, '}')
	}
	ratings := [...]string{"bad", "poor", "fair", "good", "excellent", "notRated"}
	dst = append(dst, `{"rating":"`...)
	dst = append(dst, ratings[fh%6]...)
	dst = append(dst, `","text":`...)
	switch fh >> 8 % 4 {
	case 0:
		dst = append(dst, `"Ich konnte die anderen kaum hören – Echo 🙁"`...)
	case 1:
		dst = append(dst, `"Audio kept cutting out"`...)
	default:
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"tokens":{"@odata.type":"#microsoft.graph.callRecords.feedbackTokenSet"`...)
	if fh>>12%2 == 0 {
		dst = append(dst, `,"NoSound":false,"Echo":true`...)
	}
	return append(dst, `}}}`...)
}

// appendNetwork appends a networkInfo.
func appendNetwork(dst []byte, ep endpoint) []byte {
	h := mix64(ep.h ^ 0x5851F42D4C957F2D)
	if ep.kind == epGateway || ep.kind == epMCU || ep.kind == epBot || ep.kind == epPhone {
		dst = append(dst, `{"ipAddress":"52.114.`...)
		dst = strconv.AppendUint(dst, h%256, 10)
		dst = append(dst, '.')
		dst = strconv.AppendUint(dst, h>>8%256, 10)
		dst = append(dst, `","subnet":null,"linkSpeed":null,"connectionType":"wired","port":`...)
		dst = strconv.AppendUint(dst, 49152+h>>16%16384, 10)
		dst = append(dst, `,"networkTransportProtocol":"udp","macAddress":null,"reflexiveIPAddress":null,"relayIPAddress":null,"relayPort":null,"dnsSuffix":null,"basicServiceSetIdentifier":null,"wifiBand":"unknown","wifiRadioType":"unknown","wifiChannel":null,"wifiSignalStrength":null,"wifiBatteryCharge":null,"wifiMicrosoftDriver":null,"wifiMicrosoftDriverVersion":null,"wifiVendorDriver":null,"wifiVendorDriverVersion":null,"bandwidthLowEventRatio":null,"delayEventRatio":null,"receivedQualityEventRatio":null,"sentQualityEventRatio":null,"traceRouteHops":[]}`...)
		return dst
	}
	wifi := h%3 == 0
	dst = append(dst, `{"ipAddress":"10.`...)
	dst = strconv.AppendUint(dst, h>>8%256, 10)
	dst = append(dst, '.')
	dst = strconv.AppendUint(dst, h>>16%256, 10)
	dst = append(dst, '.')
	dst = strconv.AppendUint(dst, 1+h>>24%254, 10)
	dst = append(dst, `","subnet":"10.`...)
	dst = strconv.AppendUint(dst, h>>8%256, 10)
	dst = append(dst, '.')
	dst = strconv.AppendUint(dst, h>>16%256, 10)
	dst = append(dst, `.0","linkSpeed":`...)
	if wifi {
		dst = append(dst, `866700000,"connectionType":"wifi"`...)
	} else {
		dst = append(dst, `1000000000,"connectionType":"wired"`...)
	}
	dst = append(dst, `,"port":`...)
	dst = strconv.AppendUint(dst, 50000+h>>32%20000, 10)
	dst = append(dst, `,"networkTransportProtocol":"udp","macAddress":"`...)
	for k := range 6 {
		if k > 0 {
			dst = append(dst, '-')
		}
		b := byte(h >> (8 * k))
		dst = append(dst, "0123456789ABCDEF"[b>>4], "0123456789ABCDEF"[b&15])
	}
	dst = append(dst, `","reflexiveIPAddress":"203.0.113.`...)
	dst = strconv.AppendUint(dst, 1+h>>40%254, 10)
	dst = append(dst, `","relayIPAddress":`...)
	if h>>48%2 == 0 {
		dst = append(dst, `"52.115.`...)
		dst = strconv.AppendUint(dst, h>>50%256, 10)
		dst = append(dst, `.1","relayPort":3478`...)
	} else {
		dst = append(dst, `null,"relayPort":null`...)
	}
	dst = append(dst, `,"dnsSuffix":"corp.contoso.com"`...)
	if wifi {
		dst = append(dst, `,"basicServiceSetIdentifier":"00-1A-2B-3C-4D-5E","wifiBand":"frequency50GHz","wifiRadioType":"wifi80211ax","wifiChannel":36,"wifiSignalStrength":`...)
		dst = strconv.AppendUint(dst, 40+h>>52%60, 10)
		dst = append(dst, `,"wifiBatteryCharge":`...)
		dst = strconv.AppendUint(dst, h>>56%101, 10)
		dst = append(dst, `,"wifiMicrosoftDriver":null,"wifiMicrosoftDriverVersion":null,"wifiVendorDriver":"Intel(R) Wi-Fi 6E AX211 160MHz","wifiVendorDriverVersion":"23.40.0.4"`...)
	} else {
		dst = append(dst, `,"basicServiceSetIdentifier":null,"wifiBand":"unknown","wifiRadioType":"unknown","wifiChannel":null,"wifiSignalStrength":null,"wifiBatteryCharge":null,"wifiMicrosoftDriver":null,"wifiMicrosoftDriverVersion":null,"wifiVendorDriver":null,"wifiVendorDriverVersion":null`...)
	}
	dst = append(dst, `,"bandwidthLowEventRatio":`...)
	dst = strconv.AppendFloat(dst, float64(h>>20%1000)/10000, 'f', -1, 64)
	dst = append(dst, `,"delayEventRatio":`...)
	dst = strconv.AppendFloat(dst, float64(h>>30%1000)/10000, 'f', -1, 64)
	dst = append(dst, `,"receivedQualityEventRatio":`...)
	dst = strconv.AppendFloat(dst, float64(h>>36%1000)/10000, 'f', -1, 64)
	dst = append(dst, `,"sentQualityEventRatio":`...)
	dst = strconv.AppendFloat(dst, float64(h>>42%1000)/10000, 'f', -1, 64)
	dst = append(dst, `,"traceRouteHops":[]`...)
	if h>>60 == 0 {
		// Not in the v1.0 schema.
		dst = append(dst, `,"vpnDetected":true`...)
	}
	return append(dst, '}')
}

var (
	captureDevices = []string{"Microphone (Jabra Evolve2 65)", "Mikrofon (Realtek(R) Audio)", "MacBook Pro Microphone", "Echo Cancelling Speakerphone (Poly Sync 20)", "Default input device"}
	renderDevices  = []string{"Headset (Jabra Evolve2 65)", "Lautsprecher (Realtek(R) Audio)", "MacBook Pro Speakers", "Echo Cancelling Speakerphone (Poly Sync 20)", "Default output device"}
)

// appendDevice appends a deviceInfo: null for a service's side, as Graph
// sends it.
func appendDevice(dst []byte, ep endpoint) []byte {
	if ep.kind != epUser && ep.kind != epGuest {
		return append(dst, "null"...)
	}
	h := mix64(ep.h ^ 0x14057B7EF767814F)
	d := h % uint64(len(captureDevices))
	ratio := func(shift uint) []byte {
		return strconv.AppendFloat(nil, float64(h>>shift%500)/10000, 'f', -1, 64)
	}
	dst = append(dst, `{"captureDeviceName":`...)
	dst = appendJSONString(dst, captureDevices[d])
	dst = append(dst, `,"captureDeviceDriver":"Microsoft: 10.0.22621.1","renderDeviceName":`...)
	dst = appendJSONString(dst, renderDevices[d])
	dst = append(dst, `,"renderDeviceDriver":"Microsoft: 10.0.22621.1","sentSignalLevel":`...)
	dst = strconv.AppendInt(dst, -int64(h>>8%40), 10)
	dst = append(dst, `,"receivedSignalLevel":`...)
	dst = strconv.AppendInt(dst, -int64(h>>14%40), 10)
	dst = append(dst, `,"sentNoiseLevel":`...)
	dst = strconv.AppendInt(dst, -50-int64(h>>20%40), 10)
	dst = append(dst, `,"receivedNoiseLevel":`...)
	dst = strconv.AppendInt(dst, -50-int64(h>>26%40), 10)
	dst = append(dst, `,"initialSignalLevelRootMeanSquare":`...)
	dst = strconv.AppendFloat(dst, float64(h>>32%2000)/10, 'f', -1, 64)
	dst = append(dst, `,"micGlitchRate":`...)
	dst = strconv.AppendUint(dst, h>>40%30, 10)
	dst = append(dst, `,"speakerGlitchRate":`...)
	dst = strconv.AppendUint(dst, h>>45%30, 10)
	dst = append(dst, `,"howlingEventCount":`...)
	dst = strconv.AppendUint(dst, h>>50%3, 10)
	dst = append(dst, `,"lowSpeechLevelEventRatio":`...)
	dst = append(dst, ratio(3)...)
	dst = append(dst, `,"lowSpeechToNoiseEventRatio":`...)
	dst = append(dst, ratio(5)...)
	dst = append(dst, `,"deviceClippingEventRatio":`...)
	dst = append(dst, ratio(7)...)
	dst = append(dst, `,"deviceGlitchEventRatio":`...)
	dst = append(dst, ratio(11)...)
	dst = append(dst, `,"captureNotFunctioningEventRatio":0,"renderNotFunctioningEventRatio":0,"renderMuteEventRatio":`...)
	dst = append(dst, ratio(13)...)
	dst = append(dst, `,"renderZeroVolumeEventRatio":0,"cpuInsufficentEventRatio":`...)
	dst = append(dst, ratio(17)...)
	return append(dst, '}')
}
