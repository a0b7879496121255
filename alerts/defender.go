package alerts

import (
	"encoding/json"
	"sort"
	"strings"
)

// SourceDefender is the source name of Microsoft Defender alerts read through the Microsoft Graph security
// API (alerts_v2).
const SourceDefender = "defender"

const graphAlertType = "#microsoft.graph.security.alert"

var defenderFormat = Format{
	Name: SourceDefender,
	Detect: func(doc map[string]any) bool {
		if t, ok := doc["@odata.type"].(string); ok && strings.EqualFold(t, graphAlertType) {
			return true
		}
		_, techniques := doc["mitreTechniques"]
		_, evidence := doc["evidence"]
		_, provider := doc["providerAlertId"]
		return techniques && evidence && provider
	},
	Normalize: normalizeDefender,
}

// defenderSeverity maps Graph's alertSeverity enum (unknown, informational, low, medium, high,
// unknownFutureValue) onto Parry's scale. Graph has no critical.
var defenderSeverity = map[string]string{
	"informational": SeverityLow,
	"low":           SeverityLow,
	"medium":        SeverityMedium,
	"high":          SeverityHigh,
}

// graphAlert holds the fields Parry reads from a Graph security alert (resource type
// microsoft.graph.security.alert); the rest stays in Raw.
type graphAlert struct {
	ID              string          `json:"id"`
	ProviderAlertID string          `json:"providerAlertId"`
	DetectorID      string          `json:"detectorId"`
	Title           string          `json:"title"`
	Severity        string          `json:"severity"`
	Category        string          `json:"category"`
	MitreTechniques []string        `json:"mitreTechniques"`
	CreatedDateTime string          `json:"createdDateTime"`
	Evidence        []graphEvidence `json:"evidence"`
}

// graphEvidence is the union of the alertEvidence subtypes' fields Parry reads: deviceEvidence,
// userEvidence, processEvidence, fileEvidence, ipEvidence and analyzedMessageEvidence.
type graphEvidence struct {
	Type          string `json:"@odata.type"`
	Verdict       string `json:"verdict"`
	DeviceDNSName string `json:"deviceDnsName"`
	HostName      string `json:"hostName"`
	UserAccount   *struct {
		AccountName       string `json:"accountName"`
		UserPrincipalName string `json:"userPrincipalName"`
		UserSID           string `json:"userSid"`
	} `json:"userAccount"`
	FileDetails           *graphFile   `json:"fileDetails"`
	ImageFile             *graphFile   `json:"imageFile"`
	IPAddress             string       `json:"ipAddress"`
	InternetMessageID     string       `json:"internetMessageId"`
	P1Sender              *graphSender `json:"p1Sender"`
	P2Sender              *graphSender `json:"p2Sender"`
	RecipientEmailAddress string       `json:"recipientEmailAddress"`
	SenderIP              string       `json:"senderIp"`
	Subject               string       `json:"subject"`
}

type graphFile struct {
	SHA256 string `json:"sha256"`
	SHA1   string `json:"sha1"`
	MD5    string `json:"md5"`
}

type graphSender struct {
	EmailAddress string `json:"emailAddress"`
}

func normalizeDefender(payload []byte, _ map[string]any) (Alert, error) {
	var g graphAlert
	if err := json.Unmarshal(payload, &g); err != nil {
		return Alert{}, typeError(SourceDefender, err)
	}
	if strings.TrimSpace(g.ID) == "" && strings.TrimSpace(g.ProviderAlertID) == "" {
		return Alert{}, shapeError(SourceDefender, "id or providerAlertId",
			"post the alert as Microsoft Graph returns it (GET /security/alerts_v2/{id})")
	}
	a := Alert{
		ID:    strings.TrimSpace(g.ID),
		Title: strings.TrimSpace(g.Title),
		// Graph titles an alert after the detection that raised it; detectorId is that detection's opaque id.
		Rule:       firstNonEmpty(strings.TrimSpace(g.Title), strings.TrimSpace(g.DetectorID)),
		Severity:   defenderSeverity[strings.ToLower(strings.TrimSpace(g.Severity))],
		Techniques: g.MitreTechniques,
	}
	if a.ID == "" {
		a.ID = strings.TrimSpace(g.ProviderAlertID)
	}
	if len(NormalizeTechniques(a.Techniques)) == 0 {
		if short, ok := tacticShortName(g.Category); ok {
			a.Tactics = []string{short}
		}
	}
	if t, ok := normalizeTime(g.CreatedDateTime); ok {
		a.Time = t
	}

	ev := rankByVerdict(g.Evidence)
	for _, e := range ev {
		if a.Host == "" && isEvidence(e, "deviceEvidence") {
			a.Host = firstNonEmpty(e.DeviceDNSName, e.HostName)
		}
		if a.SourceIP == "" && isEvidence(e, "ipEvidence") {
			a.SourceIP = strings.TrimSpace(e.IPAddress)
		}
		if a.Email.MessageID == "" && isEvidence(e, "analyzedMessageEvidence") {
			a.Email = Email{
				MessageID: strings.TrimSpace(e.InternetMessageID),
				Sender:    firstNonEmpty(senderAddress(e.P1Sender), senderAddress(e.P2Sender)),
				Recipient: strings.TrimSpace(e.RecipientEmailAddress),
				Subject:   strings.TrimSpace(e.Subject),
			}
		}
	}
	// A user named by userEvidence beats the account a process ran as; Defender names SYSTEM as the user of
	// system processes, which accountName skips.
	for _, kind := range []string{"userEvidence", "processEvidence"} {
		for _, e := range ev {
			if a.User == "" && isEvidence(e, kind) && e.UserAccount != nil {
				a.User = accountName(firstNonEmpty(e.UserAccount.AccountName, e.UserAccount.UserPrincipalName), e.UserAccount.UserSID)
			}
		}
	}
	// All hashes come from one file, so sha256 and sha1 never describe two different files.
	for _, pick := range []func(graphEvidence) *graphFile{
		func(e graphEvidence) *graphFile { return ifEvidence(e, "fileEvidence", e.FileDetails) },
		func(e graphEvidence) *graphFile { return ifEvidence(e, "processEvidence", e.ImageFile) },
	} {
		for _, e := range ev {
			f := pick(e)
			if a.Hashes != (Hashes{}) || f == nil {
				continue
			}
			a.Hashes = fileHashes(f.SHA256, f.SHA1, f.MD5)
		}
	}
	if a.SourceIP == "" {
		for _, e := range ev {
			if a.SourceIP == "" && isEvidence(e, "analyzedMessageEvidence") {
				a.SourceIP = strings.TrimSpace(e.SenderIP)
			}
		}
	}
	return a, nil
}

// rankByVerdict orders evidence malicious first, suspicious next, the rest after, each group in the
// vendor's order.
func rankByVerdict(ev []graphEvidence) []graphEvidence {
	rank := func(v string) int {
		switch strings.ToLower(v) {
		case "malicious":
			return 0
		case "suspicious":
			return 1
		}
		return 2
	}
	out := append([]graphEvidence(nil), ev...)
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i].Verdict) < rank(out[j].Verdict) })
	return out
}

// isEvidence reports whether e is of the given Graph evidence type ("fileEvidence" matches
// "#microsoft.graph.security.fileEvidence").
func isEvidence(e graphEvidence, kind string) bool {
	t := e.Type
	if i := strings.LastIndexByte(t, '.'); i >= 0 {
		t = t[i+1:]
	}
	return strings.EqualFold(t, kind)
}

func ifEvidence(e graphEvidence, kind string, f *graphFile) *graphFile {
	if !isEvidence(e, kind) || f == nil || (strings.TrimSpace(f.SHA256) == "" && strings.TrimSpace(f.SHA1) == "" && strings.TrimSpace(f.MD5) == "") {
		return nil
	}
	return f
}

func senderAddress(s *graphSender) string {
	if s == nil {
		return ""
	}
	return s.EmailAddress
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}
