package slacktest_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/slack-go/slack"

	"github.com/parry-soc/parry/internal/slacktest"
)

func Example() {
	f, err := slacktest.Start(slacktest.DefaultConfig()) // in a test: slacktest.New(t)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	api := slack.New(f.BotToken(), slack.OptionAPIURL(f.APIURL()))

	channel, ts, err := api.PostMessage("#soc-incidents", slack.MsgOptionText("T1566 phishing: run started", false))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(channel, ts)

	f.FailNext("chat.update", 1, http.StatusTooManyRequests, 3*time.Second)
	_, _, _, err = api.UpdateMessage(channel, ts, slack.MsgOptionText("contained", false))
	fmt.Println(err)
	_, _, _, err = api.UpdateMessage(channel, ts, slack.MsgOptionText("contained", false))
	fmt.Println(err)

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = f.WaitFor(ctx, func(f *slacktest.Fake) bool { return len(f.Updates(channel, ts)) == 1 })
	for _, m := range f.Versions(channel, ts) {
		fmt.Println(m.Text)
	}
	// Output:
	// C0SOCINC 1765000000.000100
	// slack rate limit exceeded, retry after 3s
	// <nil>
	// T1566 phishing: run started
	// contained
}
