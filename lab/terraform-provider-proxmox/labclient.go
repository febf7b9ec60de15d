package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// labClient asks the lab daemon to create and destroy the simulated VMs, as the real provider asks a
// Proxmox host's API. No timeout: a create returns when the VM has booted, as a clone and start does.
type labClient struct {
	endpoint string
}

func (c *labClient) post(route string, body map[string]string) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return err
	}
	url := strings.TrimRight(c.endpoint, "/") + route
	resp, err := http.Post(url, "application/json", bytes.NewReader(payload))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %s", url, resp.StatusCode, strings.TrimSpace(string(answer)))
	}
	return nil
}
